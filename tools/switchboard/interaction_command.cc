// switchboard enqueue / switchboard watch: put an interaction in a queue as the telephony edge
// would (InteractionService.Enqueue), and follow its routing events (InteractionService.Watch).

#include <time.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "fmt/format.h"
#include "routing/config/routing_config.h"
#include "switchboard/commands.h"
#include "switchboard/render.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"
#include "switchboard/rpc.h"

namespace sb::cli {
namespace {

namespace v1 = ::switchboard::routing::v1;

std::string RandomHex(int digits) {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  std::string out;
  while (static_cast<int>(out.size()) < digits) out += fmt::format("{:016x}", gen());
  return out.substr(0, static_cast<size_t>(digits));
}

// "12:00:01.234" in local time.
std::string LocalTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "--:--:--.---";
  const time_t secs = static_cast<time_t>(t.seconds());
  struct tm tm {};
  localtime_r(&secs, &tm);
  return fmt::format("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     t.nanos() / 1000000);
}

// ---------------------------------------------------------------------------------------------
// watch

struct WatchFlags {
  ServerFlags server;
  std::string interaction_id;
  std::string until = "ended";
  std::string output = "text";
  double max_seconds = 0;
};

bool Reached(const v1::RoutingEvent& event, const std::string& until) {
  if (until == "queued") return event.has_interaction_queued();
  if (until == "offered") return event.has_offer_created();
  if (until == "connected") return event.has_interaction_connected();
  return event.has_interaction_ended();
}

// Cancels a call when no message arrived within a time limit (the deadline of a stream bounds
// its whole life, which for a watch is unknown; this bounds the wait for it to start).
class FirstMessageWatchdog {
 public:
  FirstMessageWatchdog(grpc::ClientContext* context, std::chrono::milliseconds limit)
      : thread_([this, context, limit] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            fired_ = true;
            context->TryCancel();
          }
        }) {}
  ~FirstMessageWatchdog() {
    Disarm();
    thread_.join();
  }
  void Disarm() {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  bool fired() {
    std::lock_guard lock(mu_);
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool fired_ = false;
  std::thread thread_;
};

// Streams the events of one interaction, one line each, until `until` (or its end). A stream
// that breaks with UNAVAILABLE (the replica went away) is resumed on the next server; events
// already printed (same event id) are not printed again.
int RunWatch(const WatchFlags& flags, ServerSet& servers) {
  v1::WatchInteractionRequest request;
  request.set_tenant_id(flags.server.tenant);
  request.set_interaction_id(flags.interaction_id);
  std::set<std::string> seen;
  const auto first_limit = servers.timeout();
  const bool has_deadline = flags.max_seconds > 0;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(flags.max_seconds * 1000));
  size_t index = 0;
  int failures_in_a_row = 0;
  grpc::Status last;
  while (true) {
    const std::string& server = servers.servers()[index];
    grpc::ClientContext context;
    if (has_deadline) context.set_deadline(deadline);
    auto stub = v1::InteractionService::NewStub(servers.ChannelTo(index));
    std::unique_ptr<grpc::ClientReader<v1::WatchInteractionResponse>> reader;
    v1::WatchInteractionResponse response;
    int received = 0;
    bool timed_out = false;
    {
      FirstMessageWatchdog watchdog(&context, first_limit);
      reader = stub->Watch(&context, request);
      while (reader->Read(&response)) {
        if (received++ == 0) watchdog.Disarm();
        const v1::RoutingEvent& event = response.event();
        if (!event.event_id().empty() && !seen.insert(event.event_id()).second) continue;
        if (flags.output == "json") {
          std::cout << ToJson(event) << std::endl;
        } else {
          std::cout << LocalTime(event.time()) << "  " << FormatEvent(event) << std::endl;
        }
        if (Reached(event, flags.until)) {
          context.TryCancel();
          reader->Finish();
          return kExitOk;
        }
        if (event.has_interaction_ended()) {
          context.TryCancel();
          reader->Finish();
          std::cerr << fmt::format("error: interaction {} ended ({}) before it was {}\n",
                                   flags.interaction_id,
                                   EndReasonName(event.interaction_ended().reason()), flags.until);
          return kExitFailure;
        }
      }
      timed_out = watchdog.fired();
    }
    last = reader->Finish();
    if (timed_out) {
      std::cerr << fmt::format(
          "error: DEADLINE_EXCEEDED: no event for interaction {} of tenant {} within {}s\n"
          "hint: check the interaction id and --tenant; `switchboard enqueue` prints the id\n",
          flags.interaction_id, flags.server.tenant, first_limit.count() / 1000.0);
      return kExitFailure;
    }
    if (has_deadline && last.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::cerr << fmt::format(
          "error: DEADLINE_EXCEEDED: --max-time {}s passed before interaction {} was {}\n",
          flags.max_seconds, flags.interaction_id, flags.until);
      return kExitFailure;
    }
    if (last.ok()) {
      std::cerr << fmt::format("error: {} closed the stream before interaction {} was {}\n", server,
                               flags.interaction_id, flags.until);
      return kExitFailure;
    }
    if (!ShouldTryNextServer(last) ||
        (has_deadline && std::chrono::system_clock::now() >= deadline)) {
      break;
    }
    failures_in_a_row = received > 0 ? 1 : failures_in_a_row + 1;
    const bool recovering = absl::StartsWith(last.error_message(), "RECOVERING");
    if (!recovering && failures_in_a_row > static_cast<int>(servers.servers().size())) break;
    index = (index + 1) % servers.servers().size();
    if (received > 0 || recovering) {
      std::cerr << fmt::format("watch: stream from {} broke ({}: {}); resuming on {}\n", server,
                               StatusCodeName(last.error_code()), last.error_message(),
                               servers.servers()[index]);
    }
    if (recovering) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  PrintRpcError(last, servers, std::cerr);
  return kExitFailure;
}

// ---------------------------------------------------------------------------------------------
// enqueue

struct EnqueueFlags {
  ServerFlags server;
  std::string queue;
  std::string interaction_id;
  std::vector<std::string> attributes;
  int32_t priority = 0;
  std::string channel;
  std::string requirement;
  std::string preferred_agent;
  std::string command_id;
  std::string output = "text";
  bool watch = false;
  std::string until = "ended";
};

int RunEnqueue(const EnqueueFlags& flags) {
  std::unique_ptr<ServerSet> servers = MakeServerSet(flags.server, std::cerr);
  if (servers == nullptr) return kExitUsage;
  v1::EnqueueRequest request;
  request.set_tenant_id(flags.server.tenant);
  // Chosen here, so that a retry on another replica is the same command (the engine ignores
  // repeats) rather than a second caller.
  request.set_command_id(flags.command_id.empty() ? RandomHex(32) : flags.command_id);
  v1::Enqueue* e = request.mutable_enqueue();
  e->set_interaction_id(flags.interaction_id.empty() ? "cli-" + RandomHex(12)
                                                     : flags.interaction_id);
  e->set_queue_id(flags.queue);
  e->set_priority(flags.priority);
  e->set_requirement(flags.requirement);
  e->set_preferred_agent_id(flags.preferred_agent);
  if (!flags.channel.empty()) {
    int value = 0;
    for (const routing::config::EnumName& n : routing::config::ChannelNames()) {
      if (n.name == flags.channel) value = n.value;
    }
    if (value == 0) {
      std::cerr << fmt::format(
          "error: --channel '{}': expected voice, chat, email, callback or task\n", flags.channel);
      return kExitUsage;
    }
    e->set_channel(static_cast<v1::Channel>(value));
  }
  for (const std::string& kv : flags.attributes) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << fmt::format("error: --attr '{}': expected KEY=VALUE, e.g. --attr language=es\n",
                               kv);
      return kExitUsage;
    }
    (*e->mutable_attributes())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }

  v1::EnqueueResponse response;
  const grpc::Status status = servers->Call(
      [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext* context) {
        return v1::InteractionService::NewStub(channel)->Enqueue(context, request, &response);
      });
  if (!status.ok()) {
    PrintRpcError(status, *servers, std::cerr);
    return kExitFailure;
  }
  const std::string& id = e->interaction_id();
  if (flags.output == "json") {
    std::cout << fmt::format(
                     "{{\"interaction_id\":{},\"queue_id\":{},\"tenant_id\":{},\"command_id\":{},"
                     "\"partition\":{},\"offset\":{}}}",
                     JsonString(id), JsonString(flags.queue), JsonString(flags.server.tenant),
                     JsonString(response.command_id()), response.partition(), response.offset())
              << std::endl;
  } else {
    std::cout << fmt::format("enqueued {} in queue {} (tenant {})\n", id, flags.queue,
                             flags.server.tenant)
              << fmt::format("  command_id={} partition={} offset={}\n", response.command_id(),
                             response.partition(), response.offset());
    if (!flags.watch) {
      std::string follow = "switchboard watch " + id;
      if (flags.server.server != "127.0.0.1:7070") follow += " --server " + flags.server.server;
      if (flags.server.tenant != "demo") follow += " --tenant " + flags.server.tenant;
      std::cout << "follow it: " << follow << "\n";
    }
    std::cout.flush();
  }
  if (!flags.watch) return kExitOk;
  WatchFlags watch;
  watch.server = flags.server;
  watch.interaction_id = id;
  watch.until = flags.until;
  watch.output = flags.output;
  return RunWatch(watch, *servers);
}

const char* kUntilHelp =
    "Stop at the first event of this kind: queued (InteractionQueued), offered (OfferCreated), "
    "connected (InteractionConnected) or ended (InteractionEnded)";

}  // namespace

void AddInteractionCommands(CLI::App& app, int* exit_code) {
  auto eflags = std::make_shared<EnqueueFlags>();
  CLI::App* enqueue = app.add_subcommand(
      "enqueue",
      "Put an interaction (a call, chat, ...) in a queue, as the telephony edge does. Returns "
      "once the Enqueue command is durably in Kafka, with its command id, partition and offset; "
      "routing follows asynchronously (see `switchboard watch`).");
  enqueue->add_option("--queue,-q", eflags->queue, "Queue id")->required();
  enqueue->add_option("--interaction-id,-i", eflags->interaction_id,
                      "Interaction id (default: cli- and 12 random hex digits)");
  enqueue
      ->add_option("--attr,-a", eflags->attributes,
                   "Attribute KEY=VALUE, repeatable (expressions see it, e.g. language=es)")
      ->allow_extra_args(false);
  enqueue->add_option("--priority,-p", eflags->priority, "Priority 0..100, added to the queue's")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  enqueue->add_option("--channel", eflags->channel,
                      "voice, chat, email, callback or task (default: the queue's)");
  enqueue->add_option("--requirement", eflags->requirement,
                      "Expression the agent must satisfy, e.g. 'skills.billing >= 4'");
  enqueue->add_option("--preferred-agent", eflags->preferred_agent,
                      "Offer it to this agent first (for 30 s), then to the queue");
  enqueue->add_option("--command-id", eflags->command_id,
                      "Command id (default: random); reuse one to retry without enqueuing twice");
  enqueue->add_flag("--watch,-w", eflags->watch, "Then follow it, as `switchboard watch`");
  enqueue->add_option("--until", eflags->until, std::string(kUntilHelp) + " (with --watch)")
      ->check(CLI::IsMember({"queued", "offered", "connected", "ended"}))
      ->capture_default_str();
  enqueue->add_option("--output,-o", eflags->output, "text, or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  AddServerFlags(enqueue, &eflags->server);
  enqueue->footer(
      "Examples:\n"
      "  switchboard enqueue --queue billing\n"
      "  switchboard enqueue -q sales -i call-42 --attr tier=vip --attr language=es -p 50\n"
      "  switchboard enqueue -q support --watch --until offered\n"
      "Exit status: 0 enqueued; 1 the service refused it (error: CODE: REASON: message, e.g. "
      "NO_SUCH_QUEUE) or could not log it; 2 bad usage.");
  enqueue->callback([eflags, exit_code] { *exit_code = RunEnqueue(*eflags); });

  auto wflags = std::make_shared<WatchFlags>();
  CLI::App* watch = app.add_subcommand(
      "watch",
      "Follow one interaction's routing events (queued, offers, connected, wrap-up, ended), one "
      "line each, from its enqueue on, until it ends. If the replica goes away the stream moves "
      "to the next --server without printing an event twice.");
  watch->add_option("interaction_id", wflags->interaction_id, "The interaction id")->required();
  watch->add_option("--until", wflags->until, kUntilHelp)
      ->check(CLI::IsMember({"queued", "offered", "connected", "ended"}))
      ->capture_default_str();
  watch->add_option("--output,-o", wflags->output, "text, or json (one event per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  watch
      ->add_option("--max-time", wflags->max_seconds,
                   "Give up after this many seconds (0: no limit). --timeout bounds the wait "
                   "for the first event")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  AddServerFlags(watch, &wflags->server);
  watch->footer(
      "Examples:\n"
      "  switchboard watch cli-3f9a1c2b7d4e\n"
      "  switchboard watch call-42 --until connected --tenant acme\n"
      "  switchboard watch call-42 -o json | jq .offer_created.explanation\n"
      "Output: TIME  KIND  key=value... Kinds: queued, step_changed, offer_created, "
      "offer_accepted, offer_rejected, offer_timed_out, offer_rescinded, connected, "
      "wrap_up_started, wrap_up_ended, overflowed, transferred, escalation_created, "
      "escalation_joined, caller_warned, verification, ended, rejected.\n"
      "Exit status: 0 the --until event came; 1 the interaction ended before it, no event came "
      "within --timeout, or the service failed (error: CODE: message); 2 bad usage.");
  watch->callback([wflags, exit_code] {
    std::unique_ptr<ServerSet> servers = MakeServerSet(wflags->server, std::cerr);
    *exit_code = servers == nullptr ? kExitUsage : RunWatch(*wflags, *servers);
  });
}

}  // namespace sb::cli
