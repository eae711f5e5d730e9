#include "routing/service/partition.h"

#include "absl/strings/str_cat.h"

namespace sb::routing {

PartitionProcessor::PartitionProcessor(int32_t partition, EngineOptions options)
    : partition_(partition), options_(options) {}

absl::Status PartitionProcessor::Restore(const v1::PartitionSnapshot& snapshot) {
  if (snapshot.partition() != partition_) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot of partition ", snapshot.partition(),
                                                   " given to partition ", partition_));
  }
  std::map<std::string, std::unique_ptr<Engine>> domains;
  for (const auto& d : snapshot.domains()) {
    auto engine = Engine::Restore(d, options_);
    if (!engine.ok()) {
      return absl::DataLossError(absl::StrCat("partition ", partition_, " domain '", d.tenant_id(),
                                              "': ", engine.status().message()));
    }
    domains.emplace(d.tenant_id(), *std::move(engine));
  }
  domains_ = std::move(domains);
  last_offset_ = snapshot.command_offset();
  due_.clear();
  due_by_tenant_.clear();
  for (const auto& [tenant, engine] : domains_) UpdateDue(tenant, *engine);
  return absl::OkStatus();
}

bool PartitionProcessor::Apply(int64_t offset, const v1::RoutingCommand& command,
                               std::vector<v1::RoutingEvent>* events) {
  if (offset <= last_offset_) return false;
  last_offset_ = offset;
  auto it = domains_.find(command.tenant_id());
  if (it == domains_.end()) {
    it = domains_
             .emplace(command.tenant_id(), std::make_unique<Engine>(command.tenant_id(), options_))
             .first;
  }
  const size_t first = events->size();
  it->second->Apply(command, events);
  for (size_t i = first; i < events->size(); ++i) {
    v1::RoutingEvent& e = (*events)[i];
    e.set_partition(partition_);
    e.set_command_offset(offset);
    e.set_event_id(absl::StrCat(partition_, "/", offset, "/", e.index()));
  }
  UpdateDue(it->first, *it->second);
  return true;
}

bool PartitionProcessor::Skip(int64_t offset) {
  if (offset <= last_offset_) return false;
  last_offset_ = offset;
  return true;
}

void PartitionProcessor::UpdateDue(const std::string& tenant_id, const Engine& engine) {
  auto old = due_by_tenant_.find(tenant_id);
  if (old != due_by_tenant_.end()) {
    due_.erase({old->second, tenant_id});
    due_by_tenant_.erase(old);
  }
  if (auto next = engine.NextDeadlineMs(); next.has_value()) {
    due_by_tenant_[tenant_id] = *next;
    due_.insert({*next, tenant_id});
  }
}

std::optional<DueTimer> PartitionProcessor::NextDue() const {
  if (due_.empty()) return std::nullopt;
  return DueTimer{due_.begin()->first, due_.begin()->second};
}

v1::RoutingCommand PartitionProcessor::MakeTick(const DueTimer& due) const {
  v1::RoutingCommand c;
  c.set_command_id(absl::StrCat("tick/", due.at_ms, "/", last_offset_));
  c.set_tenant_id(due.tenant_id);
  c.mutable_time()->set_seconds(due.at_ms / 1000);
  c.mutable_time()->set_nanos(static_cast<int32_t>((due.at_ms % 1000) * 1000000));
  c.mutable_tick();
  return c;
}

v1::PartitionSnapshot PartitionProcessor::Snapshot() const {
  v1::PartitionSnapshot s;
  s.set_partition(partition_);
  s.set_command_offset(last_offset_);
  for (const auto& [tenant, engine] : domains_) *s.add_domains() = engine->Snapshot();
  return s;
}

const Engine* PartitionProcessor::FindDomain(const std::string& tenant_id) const {
  auto it = domains_.find(tenant_id);
  return it == domains_.end() ? nullptr : it->second.get();
}

bool EventDeduplicator::Accept(const v1::RoutingEvent& event) {
  const std::pair<int64_t, int32_t> id{event.command_offset(), event.index()};
  auto [it, inserted] = watermarks_.try_emplace(event.partition(), id);
  if (inserted) return true;
  if (id <= it->second) return false;
  it->second = id;
  return true;
}

std::optional<std::pair<int64_t, int32_t>> EventDeduplicator::Watermark(int32_t partition) const {
  auto it = watermarks_.find(partition);
  if (it == watermarks_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sb::routing
