#include "switchboard/rpc.h"

#include <algorithm>
#include <ostream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fmt/format.h"

namespace sb::cli {

void AddServerFlags(CLI::App* cmd, ServerFlags* flags) {
  cmd->add_option("--server,-s", flags->server,
                  "sb-routing address HOST:PORT, or a comma-separated list of replicas: a read "
                  "that reaches a replica not owning the tenant moves on to the next")
      ->envname("SWITCHBOARD_SERVER")
      ->capture_default_str();
  cmd->add_option("--tenant,-t", flags->tenant, "Tenant (routing domain)")
      ->envname("SWITCHBOARD_TENANT")
      ->capture_default_str();
  cmd->add_option("--timeout", flags->timeout_seconds,
                  "Seconds each command may take, over all replicas and retries")
      ->capture_default_str();
}

absl::StatusOr<std::vector<std::string>> ParseServerList(std::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view piece : absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
    piece = absl::StripAsciiWhitespace(piece);
    const std::string_view entry(piece.data(), piece.size());
    if (entry.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "--server '{}': empty address in the list (expected HOST:PORT[,HOST:PORT...])", list));
    }
    const size_t colon = entry.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == entry.size() ||
        !std::all_of(entry.begin() + static_cast<std::ptrdiff_t>(colon) + 1, entry.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return absl::InvalidArgumentError(fmt::format(
          "--server: '{}' has no port (expected HOST:PORT, e.g. 127.0.0.1:7070)", entry));
    }
    out.emplace_back(entry);
  }
  return out;
}

std::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

namespace {

bool IsRecovering(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         absl::StartsWith(status.error_message(), "RECOVERING");
}

bool IsNotOwner(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         absl::StartsWith(status.error_message(), "NOT_OWNER");
}

// gRPC's own messages when nothing answers (as opposed to a server's "REASON: ..." answers).
bool IsTransportFailure(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  const std::string& m = status.error_message();
  return absl::StrContains(m, "failed to connect") || absl::StrContains(m, "Connection refused") ||
         absl::StrContains(m, "Socket closed") || absl::StrContains(m, "DNS resolution failed") ||
         absl::StrContains(m, "Connection reset");
}

}  // namespace

bool ShouldTryNextServer(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

namespace {

std::shared_ptr<grpc::Channel> DefaultChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // A replica that was down is tried again soon rather than after gRPC's default backoff
  // (up to two minutes), e.g. by `up` polling a replica that is still starting.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

ServerSet::ServerSet(std::vector<std::string> servers, std::chrono::milliseconds timeout,
                     ChannelFactory factory)
    : servers_(std::move(servers)),
      channels_(servers_.size()),
      made_(servers_.size(), false),
      timeout_(timeout),
      factory_(factory != nullptr ? std::move(factory) : ChannelFactory(DefaultChannel)) {}

std::shared_ptr<grpc::Channel> ServerSet::ChannelTo(size_t index) {
  if (!made_[index]) {
    channels_[index] = factory_(servers_[index]);
    made_[index] = true;
  }
  return channels_[index];
}

grpc::Status ServerSet::Call(
    const std::function<grpc::Status(const std::shared_ptr<grpc::Channel>& channel,
                                     grpc::ClientContext* context)>& attempt) {
  const auto deadline = std::chrono::system_clock::now() + timeout_;
  auto backoff = std::chrono::milliseconds(100);
  grpc::Status last;
  while (true) {
    bool retry_round = false;
    for (size_t i = 0; i < servers_.size(); ++i) {
      grpc::ClientContext context;
      context.set_deadline(deadline);
      grpc::Status status = attempt(ChannelTo(i), &context);
      // Keep the most telling answer: a replica's own reason beats "nothing listens here".
      if (last.ok() || !IsTransportFailure(status) || IsTransportFailure(last)) {
        last = status;
        last_server_ = servers_[i];
      }
      if (!ShouldTryNextServer(status)) {
        last_server_ = servers_[i];
        return status;
      }
      if (IsRecovering(status)) retry_round = true;
    }
    if (!retry_round || std::chrono::system_clock::now() + backoff >= deadline) return last;
    std::this_thread::sleep_for(backoff);  // a partition is being restored: give it a moment
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

std::unique_ptr<ServerSet> MakeServerSet(const ServerFlags& flags, std::ostream& err) {
  absl::StatusOr<std::vector<std::string>> servers = ParseServerList(flags.server);
  if (!servers.ok()) {
    err << "error: " << servers.status().message() << "\n";
    return nullptr;
  }
  if (!(flags.timeout_seconds > 0) || flags.timeout_seconds > 86400) {
    err << fmt::format("error: --timeout {}: must be a number of seconds in (0, 86400]\n",
                       flags.timeout_seconds);
    return nullptr;
  }
  if (flags.tenant.empty()) {
    err << "error: --tenant: must not be empty\n";
    return nullptr;
  }
  return std::make_unique<ServerSet>(
      std::move(*servers),
      std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000)));
}

void PrintRpcError(const grpc::Status& status, const ServerSet& servers, std::ostream& err) {
  err << "error: " << StatusCodeName(status.error_code()) << ": " << status.error_message();
  if (servers.servers().size() > 1 && !servers.last_server().empty()) {
    err << " (from " << servers.last_server() << ")";
  }
  err << "\n";
  const std::string all = absl::StrJoin(servers.servers(), ",");
  if (IsTransportFailure(status)) {
    err << fmt::format(
        "hint: nothing answers at {}; start the services with `switchboard up`, or point "
        "--server (or SWITCHBOARD_SERVER) at a running sb-routing\n",
        all);
  } else if (IsNotOwner(status)) {
    err << fmt::format(
        "hint: no replica in --server {} owns this tenant's partition; list every replica, "
        "comma-separated\n",
        all);
  } else if (IsRecovering(status)) {
    err << "hint: the tenant's partition is still being restored; try again in a few seconds\n";
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    err << "hint: no answer within --timeout; the service may be overloaded or stuck\n";
  }
}

void AddOneServerFlags(CLI::App* cmd, OneServer* flags, const std::string& env) {
  cmd->add_option("--server,-s", flags->server, flags->service + " address HOST:PORT")
      ->envname(env)
      ->capture_default_str();
  cmd->add_option("--timeout", flags->timeout_seconds, "Seconds the call may take")
      ->capture_default_str();
}

bool CheckOneServer(const OneServer& flags, std::ostream& err) {
  if (!(flags.timeout_seconds > 0) || flags.timeout_seconds > 86400) {
    err << fmt::format("error: --timeout {}: must be a number of seconds in (0, 86400]\n",
                       flags.timeout_seconds);
    return false;
  }
  if (flags.server.empty() || flags.server.find(':') == std::string::npos) {
    err << fmt::format("error: --server '{}': expected HOST:PORT of {}\n", flags.server,
                       flags.service);
    return false;
  }
  return true;
}

std::shared_ptr<grpc::Channel> OneServerChannel(const OneServer& flags) {
  return grpc::CreateChannel(flags.server, grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* context, const OneServer& flags) {
  context->set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000)));
}

void PrintOneServerError(const grpc::Status& status, const OneServer& flags, std::ostream& err) {
  err << "error: " << StatusCodeName(status.error_code()) << ": " << status.error_message() << "\n";
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    err << fmt::format(
        "hint: nothing answers at {}; start the services with `switchboard up` ({} listens on "
        "{}), or point --server at a running {}\n",
        flags.server, flags.service, flags.default_addr, flags.service);
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    err << "hint: no answer within --timeout; raise --timeout if the service is busy\n";
  }
}

}  // namespace sb::cli
