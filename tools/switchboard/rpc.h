// How the operator commands (apply, queues, agents, enqueue, watch) reach sb-routing: a list of
// servers tried in order, a deadline on every call, and errors printed as `error: CODE: message`
// with a hint saying what to try.
//
// Used from the CLI's main thread only; nothing here is shared between threads except the
// gRPC channels, which are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace sb::cli {

// The flags every client command shares.
struct ServerFlags {
  std::string server = "127.0.0.1:7070";  // comma-separated list
  std::string tenant = "demo";
  double timeout_seconds = 10;
};

// Adds --server, --tenant and --timeout to `cmd` (environment: SWITCHBOARD_SERVER,
// SWITCHBOARD_TENANT).
void AddServerFlags(CLI::App* cmd, ServerFlags* flags);

// "127.0.0.1:7070,127.0.0.1:7071" -> the addresses. INVALID_ARGUMENT (naming the entry) for an
// empty list, an empty entry or an entry without a port.
absl::StatusOr<std::vector<std::string>> ParseServerList(std::string_view list);

// The canonical upper-case name of a gRPC code: "UNAVAILABLE".
std::string_view StatusCodeName(grpc::StatusCode code);

// True for the UNAVAILABLE answers after which another replica may do better: "NOT_OWNER: ..."
// (the tenant's partition lives elsewhere), "RECOVERING: ..." and transport failures (nothing
// listens there). Any other code or UNAVAILABLE reason is final.
bool ShouldTryNextServer(const grpc::Status& status);

// ServerSet
//
// The servers of one command and a channel to each (created on first use). Call runs one unary
// RPC against them in order: on a status for which ShouldTryNextServer holds it moves to the
// next; when a whole round saw only "RECOVERING:" or transport failures it backs off and starts
// again, until the deadline (the same deadline bounds every attempt). Returns the last status,
// with `last_server()` set to the server that gave it.
class ServerSet {
 public:
  // Makes the channel to one address (injected by tests; the default is an insecure channel
  // that retries a refused connection quickly).
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string&)>;

  ServerSet(std::vector<std::string> servers, std::chrono::milliseconds timeout,
            ChannelFactory factory = nullptr);

  // `attempt` makes one call on `channel` with `context` (deadline already set) and returns its
  // status. It may be called several times: it must be idempotent (send the same command id).
  grpc::Status Call(const std::function<grpc::Status(const std::shared_ptr<grpc::Channel>& channel,
                                                     grpc::ClientContext* context)>& attempt);

  const std::vector<std::string>& servers() const { return servers_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  const std::string& last_server() const { return last_server_; }
  std::shared_ptr<grpc::Channel> ChannelTo(size_t index);

 private:
  std::vector<std::string> servers_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<bool> made_;
  std::chrono::milliseconds timeout_;
  ChannelFactory factory_;
  std::string last_server_;
};

// Builds the ServerSet of the flags, or prints what is wrong with --server / --timeout to `err`
// and returns nullptr (the caller exits 2).
std::unique_ptr<ServerSet> MakeServerSet(const ServerFlags& flags, std::ostream& err);

// Prints `error: CODE: message` and, where one helps, a `hint:` line (nothing listening, wrong
// replica, unknown tenant...). `servers` is what was tried.
void PrintRpcError(const grpc::Status& status, const ServerSet& servers, std::ostream& err);

// Commands that talk to one service at one address (audit -> sb-recording, forecast ->
// sb-insights).
struct OneServer {
  std::string service;       // "sb-recording"
  std::string default_addr;  // where `switchboard up` starts it, "127.0.0.1:7100"
  std::string server;        // --server
  double timeout_seconds = 10;
};
// Adds --server/-s (environment `env`) and --timeout.
void AddOneServerFlags(CLI::App* cmd, OneServer* flags, const std::string& env);
// Prints what is wrong with --server / --timeout to `err`; false means exit 2.
bool CheckOneServer(const OneServer& flags, std::ostream& err);
std::shared_ptr<grpc::Channel> OneServerChannel(const OneServer& flags);
void SetDeadline(grpc::ClientContext* context, const OneServer& flags);
// `error: CODE: message`, and a hint when nothing answers or the deadline passed.
void PrintOneServerError(const grpc::Status& status, const OneServer& flags, std::ostream& err);

}  // namespace sb::cli
