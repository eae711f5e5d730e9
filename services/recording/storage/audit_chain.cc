#include "recording/storage/audit_chain.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <iostream>
#include <utility>

#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

EVP_MD_CTX* Ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

[[noreturn]] void Crash(std::string_view what) {
  std::cerr << "audit_chain: " << what << "\n";
  std::abort();
}

void InitCtx(void* ctx) {
  if (EVP_DigestInit_ex(Ctx(ctx), EVP_sha256(), nullptr) != 1) Crash("EVP_DigestInit_ex failed");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string HexDecode(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1]));
  }
  return out;
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  CatAppend(&out, name, "=", value.size(), ":", value, "\n");
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) Crash("EVP_MD_CTX_new failed");
  InitCtx(ctx_);
}

Sha256::~Sha256() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(Ctx(ctx_));
}

Sha256::Sha256(Sha256&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_MD_CTX_free(Ctx(ctx_));
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

void Sha256::Update(std::string_view data) {
  if (ctx_ == nullptr) Crash("Sha256 used after move");
  if (!data.empty() && EVP_DigestUpdate(Ctx(ctx_), data.data(), data.size()) != 1) {
    Crash("EVP_DigestUpdate failed");
  }
}

std::string Sha256::FinishRaw() {
  if (ctx_ == nullptr) Crash("Sha256 used after move");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(Ctx(ctx_), digest, &len) != 1 || len != 32) {
    Crash("EVP_DigestFinal_ex failed");
  }
  InitCtx(ctx_);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string Sha256::FinishHex() { return HexEncode(FinishRaw()); }

std::string Sha256::Raw(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinishRaw();
}

std::string Sha256::Hex(std::string_view data) { return HexEncode(Raw(data)); }

std::string HexEncode(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

std::string CanonicalAuditEntry(const AuditEntry& entry) {
  std::string out = "sb.recording.audit.v1\n";
  AppendField(out, "tenant_id", entry.tenant_id);
  AppendField(out, "recording_id", entry.recording_id);
  AppendField(out, "action", entry.action);
  AppendField(out, "principal", entry.principal);
  AppendField(out, "detail", entry.detail);
  AppendField(out, "at_ms", Cat(entry.at_ms));
  return out;
}

std::string AuditChainHash(std::string_view prev_hash_hex, const AuditEntry& entry) {
  if (!IsSha256Hex(prev_hash_hex)) Crash("AuditChainHash: prev hash is not 64 lowercase hex");
  Sha256 h;
  h.Update(HexDecode(prev_hash_hex));
  h.Update(CanonicalAuditEntry(entry));
  return h.FinishHex();
}

std::string_view AuditTamperName(AuditTamper reason) {
  switch (reason) {
    case AuditTamper::kNone:
      return "NONE";
    case AuditTamper::kEdited:
      return "EDITED";
    case AuditTamper::kRemoved:
      return "REMOVED";
    case AuditTamper::kReordered:
      return "REORDERED";
  }
  return "UNKNOWN";
}

void AuditChainVerifier::Fail(int64_t seq, AuditTamper reason, std::string detail) {
  result_.ok = false;
  result_.first_bad_seq = seq;
  result_.reason = reason;
  result_.detail = std::move(detail);
}

bool AuditChainVerifier::Add(const AuditEntry& entry) {
  if (!result_.ok) return false;
  const int64_t expected = last_seq_ + 1;
  if (entry.seq > expected) {
    Fail(expected, AuditTamper::kRemoved,
         Cat("entries ", expected, "..", entry.seq - 1, " are missing"));
    return false;
  }
  if (entry.seq < expected) {
    Fail(entry.seq, AuditTamper::kReordered,
         Cat("entry ", entry.seq, " appears after entry ", last_seq_));
    return false;
  }
  if (!IsSha256Hex(entry.prev_hash) || !IsSha256Hex(entry.hash) ||
      AuditChainHash(entry.prev_hash, entry) != entry.hash) {
    Fail(entry.seq, AuditTamper::kEdited,
         Cat("entry ", entry.seq, " does not match its own hash (content edited)"));
    return false;
  }
  if (entry.prev_hash != last_hash_) {
    Fail(entry.seq, AuditTamper::kReordered,
         Cat("entry ", entry.seq, " does not link to entry ", last_seq_,
             " (entries moved, or the previous entry replaced by a re-hashed forgery)"));
    return false;
  }
  last_seq_ = entry.seq;
  last_hash_ = entry.hash;
  ++result_.entries_checked;
  return true;
}

AuditVerifyResult AuditChainVerifier::Finish(int64_t head_seq, std::string_view head_hash) {
  if (!result_.ok) return result_;
  if (last_seq_ < head_seq) {
    Fail(last_seq_ + 1, AuditTamper::kRemoved,
         Cat("the head records ", head_seq, " entries but the chain ends at ", last_seq_,
             " (last entries deleted)"));
  } else if (last_seq_ > head_seq) {
    Fail(head_seq + 1, AuditTamper::kEdited,
         Cat("entries after the head (", head_seq, ") exist (inserted rows)"));
  } else if (last_hash_ != head_hash) {
    Fail(last_seq_ == 0 ? 1 : last_seq_, AuditTamper::kEdited,
         Cat("the head hash does not match entry ", last_seq_,
             " (last entry re-hashed, or head edited)"));
  }
  return result_;
}

}  // namespace sb::recording::storage
