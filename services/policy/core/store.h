// The bundles in force, reloaded from a directory (a mounted ConfigMap) without a restart.
//
// Every `*.yaml` file of the directory except `*.tests.yaml` and hidden entries (a ConfigMap
// mount's `..data` links) is a bundle. Reload() rereads the files whose content changed: a file
// that now fails to parse, or claims a tenant another file already serves, is rejected and the
// last good version of that file stays in force. A removed file's bundle is dropped. The built-in
// default bundle serves tenant "*" unless a file does.
//
// Thread-safe: Current() may be called from any thread while another reloads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/core/bundle.h"

namespace sb::policy {

// An immutable view: which bundle serves which tenant.
class BundleSet {
 public:
  // The tenant's bundle, else the "*" bundle, else null.
  const Bundle* ForTenant(std::string_view tenant) const;
  const std::vector<std::shared_ptr<const Bundle>>& bundles() const { return bundles_; }

 private:
  friend class BundleStore;
  std::vector<std::shared_ptr<const Bundle>> bundles_;
  std::map<std::string, const Bundle*, std::less<>> by_tenant_;
  const Bundle* fallback_ = nullptr;
};

struct ReloadReport {
  std::vector<std::string> loaded;                             // files (re)loaded
  std::vector<std::string> removed;                            // files gone
  std::vector<std::pair<std::string, absl::Status>> rejected;  // file, why
  bool changed() const { return !loaded.empty() || !removed.empty(); }
};

class BundleStore {
 public:
  // `dir` empty: only the built-in default bundle.
  explicit BundleStore(std::string dir, bool builtin_default = true);

  // Rescans the directory. A missing or unreadable directory is an error (nothing changes).
  absl::StatusOr<ReloadReport> Reload();

  std::shared_ptr<const BundleSet> Current() const;
  // The last rejection per file still in effect (cleared when the file loads again or goes).
  std::map<std::string, std::string> Rejected() const;
  const std::string& dir() const { return dir_; }

 private:
  struct FileState {
    std::string seen_hash;               // content last looked at
    std::shared_ptr<const Bundle> good;  // last good version (may be null)
    std::string rejection;               // why the content last looked at was rejected
  };
  void Publish();

  const std::string dir_;
  const bool builtin_default_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;       // path -> state; only the reloading thread writes
  std::shared_ptr<const BundleSet> current_;     // guarded by mu_
  std::map<std::string, std::string> rejected_;  // guarded by mu_
};

}  // namespace sb::policy
