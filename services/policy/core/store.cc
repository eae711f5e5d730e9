#include "policy/core/store.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sb::policy {
namespace fs = std::filesystem;

const Bundle* BundleSet::ForTenant(std::string_view tenant) const {
  auto it = by_tenant_.find(tenant);
  return it != by_tenant_.end() ? it->second : fallback_;
}

BundleStore::BundleStore(std::string dir, bool builtin_default)
    : dir_(std::move(dir)), builtin_default_(builtin_default) {
  Publish();
}

absl::StatusOr<ReloadReport> BundleStore::Reload() {
  ReloadReport report;
  if (dir_.empty()) return report;
  std::error_code ec;
  std::set<std::string> present;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(".") || !absl::EndsWith(name, ".yaml") ||
        absl::EndsWith(name, ".tests.yaml")) {
      continue;
    }
    if (!fs::is_regular_file(it->path(), ec)) continue;  // follows symlinks
    present.insert(it->path().string());
  }
  if (ec)
    return absl::NotFoundError(absl::StrCat(dir_, ": cannot read the directory: ", ec.message()));

  for (auto it = files_.begin(); it != files_.end();) {
    if (present.contains(it->first)) {
      ++it;
    } else {
      report.removed.push_back(it->first);
      it = files_.erase(it);
    }
  }
  for (const std::string& path : present) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    FileState& state = files_[path];
    const std::string hash = ContentHash(text);
    if (hash == state.seen_hash) continue;
    state.seen_hash = hash;
    std::string name = fs::path(path).filename().string();
    name.resize(name.size() - 5);
    absl::StatusOr<std::shared_ptr<const Bundle>> bundle = ParseBundle(text, path, name);
    if (!bundle.ok()) {
      state.rejection = std::string(bundle.status().message());
      report.rejected.emplace_back(path, bundle.status());
      continue;
    }
    // One file per tenant: a file that claims a tenant another (good) file serves is rejected.
    std::string clash;
    for (const auto& [other_path, other] : files_) {
      if (other_path != path && other.good != nullptr && other.good->tenant == (*bundle)->tenant) {
        clash = other_path;
      }
    }
    if (!clash.empty()) {
      absl::Status status = absl::InvalidArgumentError(
          absl::StrCat(path, ": tenant: '", (*bundle)->tenant, "' is already served by ", clash));
      state.rejection = std::string(status.message());
      report.rejected.emplace_back(path, status);
      continue;
    }
    state.good = *std::move(bundle);
    state.rejection.clear();
    report.loaded.push_back(path);
  }
  if (report.changed() || !report.rejected.empty()) Publish();
  return report;
}

void BundleStore::Publish() {
  auto set = std::make_shared<BundleSet>();
  for (const auto& [path, state] : files_) {
    if (state.good == nullptr) continue;
    set->bundles_.push_back(state.good);
    if (state.good->tenant == "*") {
      set->fallback_ = state.good.get();
    } else {
      set->by_tenant_[state.good->tenant] = state.good.get();
    }
  }
  if (set->fallback_ == nullptr && builtin_default_) {
    set->bundles_.push_back(DefaultBundle());
    set->fallback_ = set->bundles_.back().get();
  }
  std::map<std::string, std::string> rejected;
  for (const auto& [path, state] : files_) {
    if (!state.rejection.empty()) rejected[path] = state.rejection;
  }
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(set);
  rejected_ = std::move(rejected);
}

std::shared_ptr<const BundleSet> BundleStore::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::map<std::string, std::string> BundleStore::Rejected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rejected_;
}

}  // namespace sb::policy
