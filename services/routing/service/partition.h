#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "routing/engine/engine.h"

namespace sb::routing {

// A timer that is due in one routing domain of a partition.
struct DueTimer {
  int64_t at_ms = 0;
  std::string tenant_id;
};

// PartitionProcessor: the routing domains (tenants) of one partition of sb.routing.commands.v1,
// and the bookkeeping the partition owner needs around their engines: which offset was applied
// last, deterministic event ids, the next due timer across domains, and partition snapshots.
//
// It does no IO and reads no clock, so the Kafka adapter stays thin and this logic is tested on
// its own. Thread-compatible: the thread that owns the partition is its only caller.
class PartitionProcessor {
 public:
  explicit PartitionProcessor(int32_t partition, EngineOptions options = {});

  // Replaces the state with `snapshot` (which must be of this partition).
  absl::Status Restore(const v1::PartitionSnapshot& snapshot);

  // Applies the command read at `offset`, creating its domain on first use, and appends its
  // events, each stamped with event_id "<partition>/<offset>/<index>", to `events`. A command at
  // or below the last applied offset (a replay overlapping a snapshot) is skipped: returns false.
  bool Apply(int64_t offset, const v1::RoutingCommand& command,
             std::vector<v1::RoutingEvent>* events);

  // Records that the record at `offset` was not a command (unparseable): it is skipped like an
  // applied one, so a replay stays aligned. False if at or below the last applied offset.
  bool Skip(int64_t offset);

  // The earliest timer due across the partition's domains, if any.
  std::optional<DueTimer> NextDue() const;

  // The Tick command the owner appends for `due`. Its command id is derived from the deadline
  // and the last applied offset, so two owners in the same state (a zombie and its successor)
  // append the same command and the domain ignores the second; once applied, the next tick gets
  // a new id even for the same deadline (a timer set at the current time, say).
  v1::RoutingCommand MakeTick(const DueTimer& due) const;

  v1::PartitionSnapshot Snapshot() const;

  int32_t partition() const { return partition_; }
  int64_t last_offset() const { return last_offset_; }
  const Engine* FindDomain(const std::string& tenant_id) const;
  size_t domain_count() const { return domains_.size(); }
  template <typename F>
  void ForEachDomain(F&& f) const {
    for (const auto& [tenant, engine] : domains_) f(*engine);
  }

 private:
  void UpdateDue(const std::string& tenant_id, const Engine& engine);

  int32_t partition_;
  EngineOptions options_;
  int64_t last_offset_ = -1;
  std::map<std::string, std::unique_ptr<Engine>> domains_;  // by tenant
  std::map<std::string, int64_t> due_by_tenant_;
  std::set<std::pair<int64_t, std::string>> due_;
};

// EventDeduplicator: what a consumer of sb.routing.events.v1 keeps to apply each event once.
// Per command partition it remembers the highest (command offset, index) applied; an event at or
// below it is a replay (after failover) or a zombie's duplicate. Thread-compatible.
class EventDeduplicator {
 public:
  // True if the event is new (and records it); false if it was already applied.
  bool Accept(const v1::RoutingEvent& event);
  // The watermark of a partition: (offset, index), or nullopt if nothing was applied.
  std::optional<std::pair<int64_t, int32_t>> Watermark(int32_t partition) const;

 private:
  std::map<int32_t, std::pair<int64_t, int32_t>> watermarks_;
};

}  // namespace sb::routing
