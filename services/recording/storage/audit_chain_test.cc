#include "recording/storage/audit_chain.h"

#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sb::recording::storage {
namespace {

TEST(Sha256Test, KnownVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256::Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(thousand);
  EXPECT_EQ(h.FinishHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(Sha256::Raw("abc").size(), 32u);
}

TEST(Sha256Test, StreamingEqualsOneShotAndResets) {
  const uint32_t seed = std::random_device{}();
  std::cout << "StreamingEqualsOneShotAndResets seed=" << seed << "\n";
  std::mt19937 rng(seed);
  std::string data(100000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  Sha256 h;
  size_t at = 0;
  while (at < data.size()) {
    const size_t n = std::min<size_t>(rng() % 5000, data.size() - at);
    h.Update(std::string_view(data).substr(at, n));
    at += n;
  }
  EXPECT_EQ(h.FinishHex(), Sha256::Hex(data)) << "seed=" << seed;
  h.Update("abc");  // reset after Finish
  EXPECT_EQ(h.FinishHex(), Sha256::Hex("abc"));
  Sha256 moved = std::move(h);
  moved.Update("abc");
  EXPECT_EQ(moved.FinishHex(), Sha256::Hex("abc"));
}

TEST(HexTest, EncodeAndCheck) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_TRUE(IsSha256Hex(kGenesisHash));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));  // lowercase only
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'g')));
}

AuditEntry Entry(std::string action, int64_t at) {
  AuditEntry e;
  e.tenant_id = "t1";
  e.recording_id = "r1";
  e.action = std::move(action);
  e.principal = "agent:a1";
  e.detail = "d";
  e.at_ms = at;
  return e;
}

std::vector<AuditEntry> Chain(int n) {
  std::vector<AuditEntry> out;
  std::string prev(kGenesisHash);
  for (int i = 1; i <= n; ++i) {
    AuditEntry e = Entry(i % 2 ? "pause" : "resume", 1000 + i);
    e.seq = i;
    e.prev_hash = prev;
    e.hash = AuditChainHash(prev, e);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

AuditVerifyResult Verify(const std::vector<AuditEntry>& rows, int64_t head_seq,
                         const std::string& head_hash) {
  AuditChainVerifier v;
  for (const AuditEntry& e : rows) {
    if (!v.Add(e)) break;
  }
  return v.Finish(head_seq, head_hash);
}

TEST(AuditChainTest, CanonicalFormIsPinned) {
  // Changing the canonical form breaks every stored chain: this must never change silently.
  AuditEntry e = Entry("pause", 1700000000123);
  EXPECT_EQ(CanonicalAuditEntry(e),
            "sb.recording.audit.v1\n"
            "tenant_id=2:t1\n"
            "recording_id=2:r1\n"
            "action=5:pause\n"
            "principal=8:agent:a1\n"
            "detail=1:d\n"
            "at_ms=13:1700000000123\n");
  EXPECT_EQ(AuditChainHash(kGenesisHash, e),
            Sha256::Hex(std::string(32, '\0') + CanonicalAuditEntry(e)));
}

TEST(AuditChainTest, CanonicalFormIsInjective) {
  AuditEntry a = Entry("x", 1);
  AuditEntry b = a;
  a.principal = "ab";
  a.detail = "c";
  b.principal = "a";
  b.detail = "bc";
  EXPECT_NE(CanonicalAuditEntry(a), CanonicalAuditEntry(b));
  AuditEntry c = a;
  c.detail = "c\ndetail=1:x";  // a field cannot forge the next one
  EXPECT_NE(CanonicalAuditEntry(a), CanonicalAuditEntry(c));
}

TEST(AuditChainTest, IntactChainVerifies) {
  auto chain = Chain(10);
  auto r = Verify(chain, 10, chain.back().hash);
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.entries_checked, 10);
  auto empty = Verify({}, 0, std::string(kGenesisHash));
  EXPECT_TRUE(empty.ok);
}

TEST(AuditChainTest, DetectsEditedEntry) {
  auto chain = Chain(10);
  chain[4].detail = "edited";
  auto r = Verify(chain, 10, chain.back().hash);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, AuditTamper::kEdited);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_EQ(r.entries_checked, 4);
}

TEST(AuditChainTest, DetectsRemovedEntries) {
  auto chain = Chain(10);
  const std::string head = chain.back().hash;
  auto middle = chain;
  middle.erase(middle.begin() + 6);
  EXPECT_EQ(Verify(middle, 10, head).reason, AuditTamper::kRemoved);
  EXPECT_EQ(Verify(middle, 10, head).first_bad_seq, 7);
  auto last = chain;
  last.pop_back();
  auto r = Verify(last, 10, head);
  EXPECT_EQ(r.reason, AuditTamper::kRemoved);
  EXPECT_EQ(r.first_bad_seq, 10);
}

TEST(AuditChainTest, DetectsReorderedAndRehashedEntries) {
  auto chain = Chain(10);
  std::swap(chain[2].seq, chain[3].seq);
  std::swap(chain[2], chain[3]);  // rows as the database returns them, by seq
  auto r = Verify(chain, 10, Chain(10).back().hash);
  EXPECT_EQ(r.reason, AuditTamper::kReordered);
  EXPECT_EQ(r.first_bad_seq, 3);

  // A middle row edited and re-hashed: its successor no longer links to it.
  auto rehashed = Chain(10);
  rehashed[4].detail = "edited";
  rehashed[4].hash = AuditChainHash(rehashed[4].prev_hash, rehashed[4]);
  auto r2 = Verify(rehashed, 10, rehashed.back().hash);
  EXPECT_EQ(r2.reason, AuditTamper::kReordered);
  EXPECT_EQ(r2.first_bad_seq, 6);
}

TEST(AuditChainTest, DetectsHeadMismatchAndRowsBeyondHead) {
  auto chain = Chain(5);
  auto r = Verify(chain, 5, std::string(64, 'f'));
  EXPECT_EQ(r.reason, AuditTamper::kEdited);
  EXPECT_EQ(r.first_bad_seq, 5);
  auto beyond = Verify(chain, 4, chain[3].hash);
  EXPECT_EQ(beyond.reason, AuditTamper::kEdited);
  EXPECT_EQ(beyond.first_bad_seq, 5);
}

TEST(AuditChainTest, NonHexHashesAreEditsNotCrashes) {
  auto chain = Chain(3);
  chain[1].prev_hash = "not hex";
  auto r = Verify(chain, 3, chain.back().hash);
  EXPECT_EQ(r.reason, AuditTamper::kEdited);
  EXPECT_EQ(r.first_bad_seq, 2);
}

TEST(AuditChainTest, TamperNames) {
  EXPECT_EQ(AuditTamperName(AuditTamper::kNone), "NONE");
  EXPECT_EQ(AuditTamperName(AuditTamper::kEdited), "EDITED");
  EXPECT_EQ(AuditTamperName(AuditTamper::kRemoved), "REMOVED");
  EXPECT_EQ(AuditTamperName(AuditTamper::kReordered), "REORDERED");
}

}  // namespace
}  // namespace sb::recording::storage
