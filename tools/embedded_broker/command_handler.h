#pragma once
// CommandHandler: runs control lines against a ClusterControl and words the reply.

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "embedded_broker/cluster_control.h"

namespace sb::broker {

struct CommandReply {
  // One line without its newline: "ok ..." or "error REASON: what to fix". Empty for lines that
  // are ignored (blank lines, '#' comments): nothing is sent back for them.
  std::string text;
  // The line was `quit`: the caller shuts the broker down after sending the reply.
  bool quit = false;
};

// CommandHandler: stateless apart from the cluster it drives, which it does not own (the
// cluster must outlive it). Thread-safe because ClusterControl is: the stdin reader and the
// control-port thread share one handler.
class CommandHandler {
 public:
  // `app_status`, if set, adds "key=value ..." about the embedding application to `status`
  // (e.g. whether stdin is still open). It must be thread-safe.
  explicit CommandHandler(ClusterControl* cluster,
                          std::function<std::string()> app_status = nullptr)
      : cluster_(cluster), app_status_(std::move(app_status)) {}

  CommandReply Handle(std::string_view line) const;

 private:
  ClusterControl* const cluster_;
  const std::function<std::string()> app_status_;
};

}  // namespace sb::broker
