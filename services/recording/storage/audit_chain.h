// SHA-256 and the recording audit log's hash chain: the canonical form of an entry, the chain
// hash, and the verifier. Pure: no IO, no clock, no database. Both storage adapters and the media
// volume use it; see docs/recording-storage.md for the format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sb::recording::storage {

// Sha256
//
// A streaming SHA-256 (OpenSSL EVP). Feed bytes with Update(), then call FinishHex() or
// FinishRaw() once; the object is then reset and can hash a new message. Not thread-safe: one
// owner at a time. Example:
//
//   Sha256 h;
//   h.Update("ab");
//   h.Update("c");
//   std::string hex = h.FinishHex();  // "ba7816bf..."
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // The 32-byte digest of everything fed since construction or the last Finish*.
  std::string FinishRaw();
  // The same digest as 64 lowercase hex digits.
  std::string FinishHex();

  // One-shot helpers.
  static std::string Raw(std::string_view data);
  static std::string Hex(std::string_view data);

 private:
  void* ctx_;  // EVP_MD_CTX*, kept opaque so this header does not pull in OpenSSL
};

// Lowercase hex of `raw` bytes.
std::string HexEncode(std::string_view raw);
// True for exactly 64 lowercase hex digits (the form every SHA-256 in storage uses).
bool IsSha256Hex(std::string_view s);

// The prev_hash of the first entry of a chain: 64 zeros.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// AuditEntry
//
// One row of the recording audit log. The store assigns `seq`, `prev_hash` and `hash` on append;
// the rest comes from the caller. Entries are immutable once written, so `detail` must never
// hold personal data (an erasure cannot remove it without breaking the chain).
struct AuditEntry {
  int64_t seq = 0;
  std::string tenant_id;
  std::string recording_id;  // may be empty for tenant-level actions (e.g. "retention_rule")
  std::string action;        // lower_snake: start, pause, resume, stop, play, export, delete, ...
  std::string principal;     // who did it ("agent:a1", "system:retention")
  std::string detail;        // free text, no personal data
  int64_t at_ms = 0;         // unix milliseconds, supplied by the caller
  std::string prev_hash;     // hex; kGenesisHash for seq 1
  std::string hash;          // hex SHA-256(raw(prev_hash) || CanonicalAuditEntry(entry))

  bool operator==(const AuditEntry&) const = default;
};

// The canonical, injective byte form of an entry's content: a version line, then each field as
// `name=<decimal length>:<bytes>\n` in a fixed order (tenant_id, recording_id, action, principal,
// detail, at_ms). `seq`, `prev_hash` and `hash` are not part of it: the position of an entry is
// fixed by the chain link (prev_hash), not by its seq column.
std::string CanonicalAuditEntry(const AuditEntry& entry);

// hex(SHA-256(raw(prev_hash_hex) || CanonicalAuditEntry(entry))). `prev_hash_hex` must be
// IsSha256Hex (crashes otherwise: callers only pass stored or computed hashes).
std::string AuditChainHash(std::string_view prev_hash_hex, const AuditEntry& entry);

// What Verify found.
enum class AuditTamper {
  kNone,
  kEdited,     // a row's content does not match its own hash, or the head does not match the chain
  kRemoved,    // a seq is missing (a first or middle row deleted), or the head is ahead of the rows
  kReordered,  // rows are individually intact and seqs contiguous, but a row does not link to
               // the one before it (rows moved or swapped, or its predecessor replaced by a
               // re-hashed forgery)
};
std::string_view AuditTamperName(AuditTamper reason);  // "NONE", "EDITED", ...

struct AuditVerifyResult {
  bool ok = true;
  int64_t entries_checked = 0;
  int64_t first_bad_seq = 0;  // 0 when ok
  AuditTamper reason = AuditTamper::kNone;
  std::string detail;  // human-readable explanation, empty when ok
};

// AuditChainVerifier
//
// Checks a chain fed in seq order, without holding it in memory. Add() returns false once a
// problem has been found (further entries are ignored); Finish() compares the end of the chain
// with the separately stored head (last seq and hash), which is what catches a deleted last row.
// Not thread-safe.
class AuditChainVerifier {
 public:
  bool Add(const AuditEntry& entry);
  AuditVerifyResult Finish(int64_t head_seq, std::string_view head_hash);

 private:
  void Fail(int64_t seq, AuditTamper reason, std::string detail);

  AuditVerifyResult result_;
  int64_t last_seq_ = 0;
  std::string last_hash_{kGenesisHash};
};

}  // namespace sb::recording::storage
