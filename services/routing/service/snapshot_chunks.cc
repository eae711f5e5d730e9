#include "routing/service/snapshot_chunks.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sb::routing {

std::string ChunkKey(const v1::SnapshotChunk& chunk) {
  return absl::StrCat(chunk.partition(), "/", chunk.index());
}

std::vector<v1::SnapshotChunk> SplitSnapshot(const v1::PartitionSnapshot& snapshot,
                                             const std::string& snapshot_id,
                                             size_t max_chunk_bytes) {
  const std::string bytes = snapshot.SerializeAsString();
  max_chunk_bytes = std::max<size_t>(max_chunk_bytes, 1);
  const size_t count = std::max<size_t>(1, (bytes.size() + max_chunk_bytes - 1) / max_chunk_bytes);
  std::vector<v1::SnapshotChunk> chunks(count);
  for (size_t i = 0; i < count; ++i) {
    v1::SnapshotChunk& c = chunks[i];
    c.set_partition(snapshot.partition());
    c.set_command_offset(snapshot.command_offset());
    c.set_snapshot_id(snapshot_id);
    c.set_index(static_cast<int32_t>(i));
    c.set_count(static_cast<int32_t>(count));
    const size_t begin = i * max_chunk_bytes;
    c.set_data(bytes.substr(begin, std::min(max_chunk_bytes, bytes.size() - begin)));
  }
  return chunks;
}

void SnapshotAssembler::Add(const v1::SnapshotChunk& chunk) {
  if (chunk.count() <= 0 || chunk.index() < 0 || chunk.index() >= chunk.count() ||
      chunk.snapshot_id().empty()) {
    ++ignored_;
    return;
  }
  Pending& p = by_id_[chunk.snapshot_id()];
  if (p.count == 0) {
    p.count = chunk.count();
    p.command_offset = chunk.command_offset();
  } else if (p.count != chunk.count() || p.command_offset != chunk.command_offset()) {
    ++ignored_;
    return;
  }
  p.pieces[chunk.index()] = chunk.data();
}

absl::StatusOr<std::optional<v1::PartitionSnapshot>> SnapshotAssembler::Latest() const {
  const Pending* best = nullptr;
  const std::string* best_id = nullptr;
  for (const auto& [id, p] : by_id_) {
    if (static_cast<int32_t>(p.pieces.size()) != p.count) continue;
    if (best == nullptr || p.command_offset > best->command_offset) {
      best = &p;
      best_id = &id;
    }
  }
  if (best == nullptr) return std::optional<v1::PartitionSnapshot>();
  std::string bytes;
  for (const auto& [index, piece] : best->pieces) bytes += piece;
  v1::PartitionSnapshot snapshot;
  if (!snapshot.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("snapshot ", *best_id, " at command offset ",
                                            best->command_offset, " does not parse"));
  }
  return std::optional<v1::PartitionSnapshot>(std::move(snapshot));
}

}  // namespace sb::routing
