// Splitting a PartitionSnapshot into SnapshotChunk records no larger than the broker's message
// size, and putting the newest complete snapshot back together from what a snapshot partition
// holds (which may include older snapshots, half-written ones from a replica that died, and a
// zombie owner's late ones). Pure: no IO.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "switchboard/routing/v1/snapshot.pb.h"

namespace sb::routing {

namespace v1 = ::switchboard::routing::v1;

// The record key of a chunk: "<partition>/<index>".
std::string ChunkKey(const v1::SnapshotChunk& chunk);

// Splits `snapshot` into ceil(size / max_chunk_bytes) chunks (at least one) tagged with
// `snapshot_id`.
std::vector<v1::SnapshotChunk> SplitSnapshot(const v1::PartitionSnapshot& snapshot,
                                             const std::string& snapshot_id,
                                             size_t max_chunk_bytes);

// Collects chunks in log order and yields the complete snapshot with the highest command offset.
class SnapshotAssembler {
 public:
  // Chunks of other partitions, with bad indexes or inconsistent counts are ignored (counted).
  void Add(const v1::SnapshotChunk& chunk);
  // The newest complete snapshot, parsed; nullopt if there is none; DATA_LOSS if the newest
  // complete one does not parse.
  absl::StatusOr<std::optional<v1::PartitionSnapshot>> Latest() const;
  int ignored() const { return ignored_; }

 private:
  struct Pending {
    int64_t command_offset = 0;
    int32_t count = 0;
    std::map<int32_t, std::string> pieces;
  };
  std::map<std::string, Pending> by_id_;
  int ignored_ = 0;
};

}  // namespace sb::routing
