// sb-recording-bench: the review workflow of sb-recording on PostgreSQL (docs/performance.md,
// "Recording: reviews on PostgreSQL"). Starts a private PostgreSQL (or uses --url), bulk-loads N
// reviews with their details through COPY, then measures
//   1. the review-queue query: ReviewServiceImpl::ListReviews (role rules, the keyset page and
//      the batched details lookup, mapped to protos; called in-process, no network) as a QA
//      reviewer, a supervisor of three teams and an agent, p50/p99 over random queries;
//   2. sustained event ingestion through ReviewIntake: routing events (queued, connected, ended,
//      escalations) and policy decisions with create_review, events per second, with 1 and N
//      threads.
// Why COPY for the load: a million rows through the store's CreateReview would take one
// transaction per row (two, with the details: 10+ minutes at the rates measured here); COPY
// streams them in one statement per table (80-95 s for 1M reviews + details on a 2-core VM,
// most of it index maintenance). The rows are what the service writes (reviews +
// review_details), generated from a fixed seed.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/format.h"
#include "recording/core/qa_config.h"
#include "recording/service/review_intake.h"
#include "recording/service/review_records.h"
#include "recording/service/review_service.h"
#include "recording/storage/postgres_store.h"
#include "recording/storage/testing/postgres_server.h"

namespace sb::recording {
namespace {

namespace v1 = ::switchboard::recording::v1;
namespace rv1 = ::switchboard::routing::v1;
namespace pv1 = ::switchboard::policy::v1;
using Clock = std::chrono::steady_clock;

struct Flags {
  int64_t reviews = 1'000'000;
  int tenants = 10;
  int agents_per_tenant = 2000;  // 20 per team: 100 teams per tenant
  int queries = 1000;            // per scenario
  int64_t events = 100'000;      // ingestion events per run
  int threads = 4;               // the second ingestion run
  std::string url;               // an existing database instead of a private server
  uint64_t seed = 42;
};

constexpr int kAgentsPerTeam = 20;
constexpr int64_t kStart = 1'735'689'600'000;  // 2025-01-01
constexpr int64_t kYearMs = 365LL * 86'400'000;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

std::string Msg(const absl::Status& s) {
  return std::string(s.message().data(), s.message().size());
}

int Fail(const std::string& what) {
  std::cerr << "sb-recording-bench: " << what << "\n";
  return 1;
}

// ---- Bulk load ----

class Copier {
 public:
  Copier(PGconn* conn, const std::string& copy_sql) : conn_(conn) {
    PGresult* r = PQexec(conn_, copy_sql.c_str());
    ok_ = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok_) error_ = PQerrorMessage(conn_);
    PQclear(r);
  }
  void Row(const std::string& line) {
    buf_ += line;
    buf_ += '\n';
    if (buf_.size() > (1 << 20)) Flush();
  }
  bool Finish() {
    Flush();
    if (!ok_) return false;
    if (PQputCopyEnd(conn_, nullptr) != 1) return Error();
    PGresult* r = PQgetResult(conn_);
    const bool good = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!good) error_ = PQerrorMessage(conn_);
    PQclear(r);
    while ((r = PQgetResult(conn_)) != nullptr) PQclear(r);
    return good;
  }
  const std::string& error() const { return error_; }

 private:
  void Flush() {
    if (ok_ && !buf_.empty() &&
        PQputCopyData(conn_, buf_.data(), static_cast<int>(buf_.size())) != 1) {
      Error();
    }
    buf_.clear();
  }
  bool Error() {
    ok_ = false;
    error_ = PQerrorMessage(conn_);
    return false;
  }
  PGconn* conn_;
  bool ok_ = false;
  std::string buf_;
  std::string error_;
};

bool Exec(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) std::cerr << "sb-recording-bench: " << sql << ": " << PQerrorMessage(conn);
  PQclear(r);
  return ok;
}

std::string AgentName(int a) { return fmt::format("a{}", a); }
std::string TeamName(int a) { return fmt::format("team{}", a / kAgentsPerTeam); }

// Loads f.reviews reviews (and their details) spread over the tenants, agents, kinds, states and
// one year of created_at.
bool BulkLoad(const std::string& url, const Flags& f) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::cerr << "sb-recording-bench: connect: " << PQerrorMessage(conn);
    PQfinish(conn);
    return false;
  }
  std::mt19937_64 rng(f.seed);
  const char* kinds[] = {"DISCONNECT", "ESCALATION", "LOW_CSAT", "SAMPLE", "MANUAL_SUPERVISOR"};
  const char* qa_kinds[] = {"DISCONNECT", "ESCALATION", "LOW_CSAT", "SAMPLE", "MANUAL"};
  const int kind_weights[] = {30, 15, 15, 35, 5};
  const char* states[] = {"OPEN", "SUBMITTED", "ACKNOWLEDGED", "DISPUTED", "RESOLVED"};
  const int state_weights[] = {15, 25, 45, 5, 10};
  auto pick = [&](const int* w, int n) {
    int r = static_cast<int>(rng() % 100);
    for (int i = 0; i < n; ++i) {
      if (r < w[i]) return i;
      r -= w[i];
    }
    return n - 1;
  };
  bool ok = Exec(conn, "BEGIN");
  {
    Copier reviews(conn,
                   "COPY reviews (id, tenant_id, interaction_id, agent_id, team_id, kind, "
                   "mandatory, status, source_key, created_at_ms, updated_at_ms) FROM STDIN");
    Copier* cur = &reviews;
    std::vector<std::string> details;  // second COPY after the first (one COPY at a time)
    details.reserve(static_cast<size_t>(f.reviews));
    for (int64_t i = 0; i < f.reviews; ++i) {
      const int tenant = static_cast<int>(i % f.tenants);
      const int agent = static_cast<int>(rng() % static_cast<uint64_t>(f.agents_per_tenant));
      const int k = pick(kind_weights, 5);
      const int s = pick(state_weights, 5);
      const int64_t created =
          kStart + (i * kYearMs) / f.reviews + static_cast<int64_t>(rng() % 1000);
      const std::string id = fmt::format("rv-{:016x}", rng());
      cur->Row(fmt::format("{}\tt{}\tix{}\t{}\t{}\t{}\t{}\t{}\tbench:{}\t{}\t{}", id, tenant, i,
                           AgentName(agent), TeamName(agent), kinds[k], k < 2 ? 1 : 0, states[s], i,
                           created, created));
      const bool scored = s > 0;
      const double score = scored ? static_cast<double>(rng() % 1001) / 10.0 : 0;
      details.push_back(fmt::format("{}\tt{}\t{}\t{}\tq{}\t{}\t\t\t{}\t{}\t{}\t0\t{}\t{}\t\t\\N\t",
                                    id, tenant, AgentName(agent), qa_kinds[k], agent % 7, "bench",
                                    scored ? "ev-" + id : "", scored ? "qa1" : "", score,
                                    scored ? created + 3'600'000 : 0,
                                    s > 1 ? created + 7'200'000 : 0));
    }
    if (!reviews.Finish()) {
      std::cerr << "sb-recording-bench: COPY reviews: " << reviews.error();
      ok = false;
    }
    if (ok) {
      Copier d(conn,
               "COPY review_details (review_id, tenant_id, agent_id, qa_kind, queue_id, reason, "
               "requested_by, source_event_id, evaluation_id, reviewer, score, critical_failed, "
               "submitted_at_ms, responded_at_ms, resolution_note, score_before_amendment, "
               "amended_evaluation_id) FROM STDIN");
      for (const std::string& line : details) d.Row(line);
      if (!d.Finish()) {
        std::cerr << "sb-recording-bench: COPY review_details: " << d.error();
        ok = false;
      }
    }
  }
  ok = ok && Exec(conn, "COMMIT");
  ok = ok && Exec(conn, "VACUUM ANALYZE reviews") && Exec(conn, "VACUUM ANALYZE review_details");
  PQfinish(conn);
  return ok;
}

// ---- The review-queue query ----

struct Scenario {
  std::string name;
  std::function<v1::ListReviewsRequest(std::mt19937_64&)> make;
};

std::vector<Scenario> Scenarios(const Flags& f) {
  const int teams = std::max(1, f.agents_per_tenant / kAgentsPerTeam);
  auto base = [f](std::mt19937_64& rng, const std::string& role, const std::string& subject) {
    v1::ListReviewsRequest r;
    r.set_tenant_id(fmt::format("t{}", rng() % static_cast<uint64_t>(f.tenants)));
    r.mutable_principal()->set_role(role);
    r.mutable_principal()->set_subject(subject);
    return r;
  };
  return {
      {"qa_reviewer: OPEN, first page of 50",
       [=](std::mt19937_64& rng) {
         auto r = base(rng, "qa_reviewer", "qa1");
         r.set_state("OPEN");
         return r;
       }},
      {"qa_reviewer: OPEN DISCONNECT, page of 50",
       [=](std::mt19937_64& rng) {
         auto r = base(rng, "qa_reviewer", "qa1");
         r.set_state("OPEN");
         r.set_kind("DISCONNECT");
         return r;
       }},
      {"supervisor of 3 teams: all states",
       [=](std::mt19937_64& rng) {
         auto r = base(rng, "supervisor", "s1");
         for (int i = 0; i < 3; ++i) {
           r.mutable_principal()->add_teams(fmt::format("team{}", rng() % teams));
         }
         return r;
       }},
      {"supervisor of 3 teams: OPEN",
       [=](std::mt19937_64& rng) {
         auto r = base(rng, "supervisor", "s1");
         r.set_state("OPEN");
         for (int i = 0; i < 3; ++i) {
           r.mutable_principal()->add_teams(fmt::format("team{}", rng() % teams));
         }
         return r;
       }},
      {"agent: own reviews",
       [=](std::mt19937_64& rng) {
         return base(
             rng, "agent",
             AgentName(static_cast<int>(rng() % static_cast<uint64_t>(f.agents_per_tenant))));
       }},
  };
}

bool MeasureQueries(storage::RecordingStore* store, const qa::QaConfig* config, const Flags& f) {
  ReviewServiceImpl service(store, config, nullptr);
  std::mt19937_64 rng(f.seed + 1);
  fmt::print("\nreview-queue query (ListReviews in-process, {} reviews, {} queries each):\n",
             f.reviews, f.queries);
  fmt::print("  {:<42} {:>9} {:>9} {:>9} {:>8}\n", "scenario", "p50 ms", "p99 ms", "max ms",
             "rows");
  for (const Scenario& s : Scenarios(f)) {
    std::vector<double> lat;
    int64_t rows = 0;
    for (int i = 0; i < std::max(5, f.queries / 10); ++i) {  // warm the cache and statements
      v1::ListReviewsResponse resp;
      grpc::ServerContext ctx;
      auto req = s.make(rng);
      (void)service.ListReviews(&ctx, &req, &resp);
    }
    for (int i = 0; i < f.queries; ++i) {
      auto req = s.make(rng);
      v1::ListReviewsResponse resp;
      grpc::ServerContext ctx;
      const auto t0 = Clock::now();
      grpc::Status st = service.ListReviews(&ctx, &req, &resp);
      lat.push_back(Ms(Clock::now() - t0));
      if (!st.ok()) {
        std::cerr << "sb-recording-bench: " << s.name << ": " << st.error_message() << "\n";
        return false;
      }
      rows += resp.reviews_size();
    }
    fmt::print("  {:<42} {:>9.2f} {:>9.2f} {:>9.2f} {:>8.1f}\n", s.name, Percentile(lat, 0.5),
               Percentile(lat, 0.99), Percentile(lat, 1.0), static_cast<double>(rows) / f.queries);
  }
  return true;
}

// ---- Ingestion ----

// The events of one interaction: queued, connected, ended; every 10th an allowed disconnect
// decision with create_review, every 20th an EscalationCreated.
struct Input {
  std::vector<rv1::RoutingEvent> routing;
  std::vector<pv1::PolicyDecision> decisions;
};

Input EventsOf(const std::string& tenant, int64_t n, int agents) {
  Input in;
  const int64_t at = kStart + kYearMs + n * 1000;
  const std::string ix = fmt::format("{}-{}", tenant, n);  // event ids unique per run
  const std::string agent = AgentName(static_cast<int>(n % agents));
  auto ev = [&](const std::string& suffix, int64_t t) {
    rv1::RoutingEvent e;
    e.set_tenant_id(tenant);
    e.set_event_id(ix + suffix);
    *e.mutable_time() = ToTimestamp(t);
    return e;
  };
  rv1::RoutingEvent q = ev("/q", at);
  q.mutable_interaction_queued()->set_interaction_id(ix);
  q.mutable_interaction_queued()->set_queue_id("billing");
  in.routing.push_back(std::move(q));
  rv1::RoutingEvent c = ev("/c", at + 8000);
  c.mutable_interaction_connected()->set_interaction_id(ix);
  c.mutable_interaction_connected()->set_agent_id(agent);
  c.mutable_interaction_connected()->set_queue_id("billing");
  c.mutable_interaction_connected()->mutable_waited()->set_seconds(8);
  in.routing.push_back(std::move(c));
  if (n % 20 == 0) {
    rv1::RoutingEvent x = ev("/x", at + 30000);
    x.mutable_escalation_created()->set_interaction_id(ix);
    x.mutable_escalation_created()->set_agent_id(agent);
    x.mutable_escalation_created()->set_reason("caller_requested_manager");
    in.routing.push_back(std::move(x));
  }
  if (n % 10 == 0) {
    pv1::PolicyDecision d;
    d.set_decision_id(ix + "/d");
    d.set_tenant_id(tenant);
    d.set_kind("disconnect");
    d.set_interaction_id(ix);
    d.set_agent_id(agent);
    d.set_outcome(pv1::OUTCOME_ALLOW);
    *d.mutable_time() = ToTimestamp(at + 50000);
    auto* cr = d.add_obligations()->mutable_create_review();
    cr->set_reason("agent_disconnect");
    cr->set_mandatory(true);
    in.decisions.push_back(std::move(d));
  }
  rv1::RoutingEvent e = ev("/e", at + 60000);
  e.mutable_interaction_ended()->set_interaction_id(ix);
  e.mutable_interaction_ended()->set_agent_id(agent);
  e.mutable_interaction_ended()->set_queue_id("billing");
  e.mutable_interaction_ended()->set_reason(rv1::END_REASON_COMPLETED);
  in.routing.push_back(std::move(e));
  return in;
}

class CountingSink : public ReviewEventSink {
 public:
  void ReviewChanged(const v1::Review&) override { ++count; }
  std::atomic<int64_t> count{0};
};

bool MeasureIngestion(storage::RecordingStore* store, const qa::QaConfig* config, const Flags& f,
                      int threads, const std::string& tenant) {
  CountingSink sink;
  ReviewIntake intake(store, config, &sink);
  const int agents = 200;
  for (int a = 0; a < agents; ++a) {
    rv1::RoutingEvent e;
    e.set_tenant_id(tenant);
    e.set_event_id(fmt::format("agent/{}", a));
    auto* p = e.mutable_agent_upserted()->mutable_profile();
    p->set_agent_id(AgentName(a));
    p->set_team(TeamName(a));
    if (absl::Status s = intake.OnRoutingEvent(e); !s.ok()) {
      std::cerr << "sb-recording-bench: agent upsert: " << s << "\n";
      return false;
    }
  }
  // About 3.15 events per interaction.
  const int64_t interactions = std::max<int64_t>(1, f.events * 20 / 63);
  std::atomic<int64_t> events{0};
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int64_t n = t; n < interactions && !failed; n += threads) {
        Input in = EventsOf(tenant, n, agents);
        // Routing events in order; the decision after the connect (as on the topics).
        for (size_t i = 0; i < in.routing.size(); ++i) {
          if (absl::Status s = intake.OnRoutingEvent(in.routing[i]); !s.ok()) {
            std::cerr << "sb-recording-bench: routing event: " << s << "\n";
            failed = true;
            return;
          }
          ++events;
          if (i == 1) {
            for (const auto& d : in.decisions) {
              if (absl::Status s = intake.OnPolicyDecision(d, d.decision_id()); !s.ok()) {
                std::cerr << "sb-recording-bench: decision: " << s << "\n";
                failed = true;
                return;
              }
              ++events;
            }
          }
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed) return false;
  fmt::print(
      "  {} thread(s): {} events ({} interactions) in {:.2f} s = {:.0f} events/s; {} "
      "reviews opened\n",
      threads, events.load(), interactions, secs, static_cast<double>(events) / secs,
      sink.count.load());
  return true;
}

int Run(const Flags& f) {
  std::unique_ptr<storage::testing::PostgresServer> server;
  std::string url = f.url;
  if (url.empty()) {
    auto started = storage::testing::PostgresServer::Start();
    if (!started.ok()) return Fail(Msg(started.status()));
    server = *std::move(started);
    auto db = server->CreateDatabase();
    if (!db.ok()) return Fail(Msg(db.status()));
    url = *db;
  }
  storage::PostgresOptions options;
  options.pool_size = std::max(4, f.threads);
  auto store = storage::OpenPostgresStore(url, options);
  if (!store.ok()) return Fail(Msg(store.status()));
  const qa::QaConfig config;

  fmt::print("sb-recording-bench: {} reviews, {} tenants, {} agents/tenant ({} teams)\n", f.reviews,
             f.tenants, f.agents_per_tenant, f.agents_per_tenant / kAgentsPerTeam);
  const auto load0 = Clock::now();
  if (!BulkLoad(url, f)) return Fail("bulk load failed");
  const double load_s = std::chrono::duration<double>(Clock::now() - load0).count();
  fmt::print(
      "bulk load (COPY reviews + review_details, VACUUM ANALYZE): {:.1f} s ({:.0f} "
      "reviews/s)\n",
      load_s, static_cast<double>(f.reviews) / load_s);

  if (!MeasureQueries(store->get(), &config, f)) return 1;

  fmt::print(
      "\nevent ingestion through ReviewIntake (each event one transaction with its "
      "dedupe mark)\n");
  // The private server starts with fsync=off and synchronous_commit=off (test settings); the
  // second pass turns durability on (ALTER SYSTEM + reload: both are reloadable), as production
  // runs, so every commit waits for its WAL flush.
  const int passes = server != nullptr ? 2 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    const bool durable = pass == 1;
    if (durable) {
      PGconn* conn = PQconnectdb(url.c_str());
      const bool ok = PQstatus(conn) == CONNECTION_OK &&
                      Exec(conn, "ALTER SYSTEM SET fsync = on") &&
                      Exec(conn, "ALTER SYSTEM SET synchronous_commit = on") &&
                      Exec(conn, "ALTER SYSTEM SET full_page_writes = on") &&
                      Exec(conn, "SELECT pg_reload_conf()");
      PQfinish(conn);
      if (!ok) return Fail("could not turn durability on");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the reload is asynchronous
    }
    fmt::print(" {}:\n", durable             ? "durable (fsync=on, synchronous_commit=on)"
                         : server != nullptr ? "test settings (fsync=off, synchronous_commit=off)"
                                             : "the server's settings");
    const std::string tag = durable ? "d" : "";
    if (!MeasureIngestion(store->get(), &config, f, 1, "ingest1" + tag)) return 1;
    if (f.threads > 1 && !MeasureIngestion(store->get(), &config, f, f.threads, "ingestN" + tag)) {
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace sb::recording

int main(int argc, char** argv) {
  sb::recording::Flags f;
  CLI::App app{
      "sb-recording-bench: review-queue query latency and event ingestion rate of the "
      "review workflow on PostgreSQL"};
  app.add_option("--reviews", f.reviews, "Reviews bulk-loaded")->capture_default_str();
  app.add_option("--tenants", f.tenants, "Tenants the reviews spread over")->capture_default_str();
  app.add_option("--agents-per-tenant", f.agents_per_tenant, "Agents per tenant (20 per team)")
      ->capture_default_str();
  app.add_option("--queries", f.queries, "Queries per scenario")->capture_default_str();
  app.add_option("--events", f.events, "Events per ingestion run")->capture_default_str();
  app.add_option("--threads", f.threads, "Threads of the second ingestion run")
      ->capture_default_str();
  app.add_option("--url", f.url,
                 "Use this (empty, migrated or not) database instead of a private "
                 "PostgreSQL");
  app.add_option("--seed", f.seed, "Data and query seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (f.reviews < 1 || f.tenants < 1 || f.agents_per_tenant < 20 || f.queries < 1 || f.events < 1 ||
      f.threads < 1) {
    std::cerr << "sb-recording-bench: every count must be >= 1 (agents-per-tenant >= 20)\n";
    return 2;
  }
  return sb::recording::Run(f);
}
