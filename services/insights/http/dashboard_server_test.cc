#include "insights/http/dashboard_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "insights/http/api.h"
#include "insights/http/web_assets.h"

namespace sb::insights::http {
namespace {

using Clock = std::chrono::steady_clock;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;

// A deadline for every wait in these tests: generous, only reached when something is broken.
constexpr auto kWait = std::chrono::seconds(10);

// FakeSource
//
// Holds one Floor per tenant; Bump() changes a tenant's floor and moves Version(). Records the
// last intervals and forecast requests. Thread-safe.
class FakeSource : public InsightsSource {
 public:
  FakeSource() {
    iv1::Floor floor;
    floor.set_tenant_id("demo");
    *floor.mutable_as_of() = TimeUtil::MillisecondsToTimestamp(1'795'000'000'000);
    floor.set_events_applied(10);
    iv1::QueueFigures* q = floor.add_queues();
    q->set_queue_id("sales");
    q->set_name("Sales");
    q->set_sl_threshold_ms(20000);
    q->set_sl_target(0.8);
    q->set_waiting(3);
    q->set_longest_wait_ms(42000);
    q->set_agents_available(2);
    q->set_agents_logged_in(5);
    q->mutable_today()->set_answered(7);
    q->mutable_today()->set_service_level(0.875);
    iv1::WindowStats* w = q->add_windows();
    w->set_window_ms(900000);  // no answers: service_level and asa absent
    iv1::AgentFigures* a = floor.add_agents();
    a->set_agent_id("alice");
    a->set_presence("available");
    a->set_handled_today(4);
    iv1::WaitingEscalation* e = floor.add_escalations();
    e->set_task_id("t1");
    e->set_age_ms(5000);
    floors_["demo"] = floor;
  }

  iv1::ListTenantsResponse ListTenants() override {
    iv1::ListTenantsResponse r;
    r.add_tenants("demo");
    r.add_tenants("other");
    return r;
  }

  absl::StatusOr<iv1::Floor> GetFloor(const iv1::GetFloorRequest& request) override {
    absl::MutexLock lock(&mu_);
    auto it = floors_.find(request.tenant_id());
    if (it == floors_.end()) {
      return absl::NotFoundError(
          absl::StrCat("NO_SUCH_TENANT: no events seen for tenant ", request.tenant_id()));
    }
    iv1::Floor floor = it->second;
    if (stamp_as_of_now_) {
      *floor.mutable_as_of() = TimeUtil::MillisecondsToTimestamp(absl::ToUnixMillis(absl::Now()));
    }
    return floor;
  }

  absl::StatusOr<iv1::GetIntervalsResponse> GetIntervals(
      const iv1::GetIntervalsRequest& request) override {
    absl::MutexLock lock(&mu_);
    last_intervals_ = request;
    iv1::GetIntervalsResponse r;
    iv1::Interval* i = r.add_intervals();
    i->set_tenant_id(request.tenant_id());
    i->set_queue_id("sales");
    i->set_offered(12);
    return r;
  }

  absl::StatusOr<iv1::Forecast> GetForecast(const iv1::GetForecastRequest& request) override {
    absl::MutexLock lock(&mu_);
    last_forecast_ = request;
    if (request.day() == "2026-13-01") {
      return absl::InvalidArgumentError("BAD_DAY: day must be YYYY-MM-DD, got '2026-13-01'");
    }
    if (request.queue_id() == "down") return absl::UnavailableError("STORE_DOWN: store: gone");
    iv1::Forecast f;
    f.set_tenant_id(request.tenant_id());
    f.set_queue_id(request.queue_id());
    f.add_rows()->set_agents_erlang_c(3);
    return f;
  }

  uint64_t Version() override {
    absl::MutexLock lock(&mu_);
    return version_;
  }

  uint64_t WaitForChange(uint64_t seen, Clock::time_point deadline) override {
    absl::MutexLock lock(&mu_);
    const absl::Time abs_deadline = absl::Now() + absl::FromChrono(deadline - Clock::now());
    auto moved = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return version_ > seen; };
    mu_.AwaitWithDeadline(absl::Condition(&moved), abs_deadline);
    return version_;
  }

  // Sets the demo floor's events_applied and moves Version().
  void Bump(int64_t events_applied) {
    absl::MutexLock lock(&mu_);
    floors_["demo"].set_events_applied(events_applied);
    ++version_;
  }

  void StampAsOfNow() {
    absl::MutexLock lock(&mu_);
    stamp_as_of_now_ = true;
  }

  iv1::Floor DemoFloor() {
    absl::MutexLock lock(&mu_);
    return floors_["demo"];
  }
  iv1::GetIntervalsRequest LastIntervals() {
    absl::MutexLock lock(&mu_);
    return last_intervals_;
  }
  iv1::GetForecastRequest LastForecast() {
    absl::MutexLock lock(&mu_);
    return last_forecast_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, iv1::Floor> floors_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 1;
  bool stamp_as_of_now_ ABSL_GUARDED_BY(mu_) = false;
  iv1::GetIntervalsRequest last_intervals_ ABSL_GUARDED_BY(mu_);
  iv1::GetForecastRequest last_forecast_ ABSL_GUARDED_BY(mu_);
};

// A loopback TCP connection with deadline-bounded reads (raw sockets: the test does not share
// the server's HTTP code).
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Conn() { ::close(fd_); }
  bool connected() const { return connected_; }

  void Send(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads until `delimiter` is in the buffer; returns the text up to and including it, or
  // nullopt at EOF or the deadline.
  std::optional<std::string> ReadUntil(absl::string_view delimiter,
                                       Clock::time_point deadline = Clock::now() + kWait) {
    for (;;) {
      const size_t at = buffer_.find(delimiter.data(), 0, delimiter.size());
      if (at != std::string::npos) {
        std::string out = buffer_.substr(0, at + delimiter.size());
        buffer_.erase(0, at + delimiter.size());
        return out;
      }
      if (!Fill(deadline)) return std::nullopt;
    }
  }

  std::optional<std::string> ReadExactly(size_t n) {
    const Clock::time_point deadline = Clock::now() + kWait;
    while (buffer_.size() < n) {
      if (!Fill(deadline)) return std::nullopt;
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  // True when the server closed the connection before the deadline (pending data is dropped).
  bool ReadsEof(Clock::time_point deadline) {
    while (Fill(deadline)) buffer_.clear();
    return eof_;
  }

 private:
  bool Fill(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

std::optional<Reply> ReadReply(Conn& conn, bool head = false) {
  std::optional<std::string> head_text = conn.ReadUntil("\r\n\r\n");
  if (!head_text) return std::nullopt;
  Reply reply;
  std::vector<std::string> lines = absl::StrSplit(*head_text, "\r\n", absl::SkipEmpty());
  std::vector<std::string> status_line = absl::StrSplit(lines.at(0), ' ');
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &reply.status)) {
    return std::nullopt;
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    reply.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  size_t length = 0;
  if (!head && absl::SimpleAtoi(reply.headers["content-length"], &length)) {
    std::optional<std::string> body = conn.ReadExactly(length);
    if (!body) return std::nullopt;
    reply.body = *body;
  }
  return reply;
}

std::string Request(absl::string_view method, absl::string_view target) {
  return absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

// The JSON error body's "reason".
std::string ReasonOf(const std::string& body) {
  google::protobuf::Struct s;
  if (!google::protobuf::util::JsonStringToMessage(body, &s).ok())
    return "<not json: " + body + ">";
  return s.fields().at("reason").string_value();
}

class DashboardServerTest : public ::testing::Test {
 protected:
  void StartServer(DashboardServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<DashboardServer>(source_, std::move(options));
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  Reply Get(absl::string_view target, absl::string_view method = "GET") {
    Conn conn(server_->port());
    EXPECT_TRUE(conn.connected());
    conn.Send(Request(method, target));
    std::optional<Reply> reply = ReadReply(conn, method == "HEAD");
    EXPECT_TRUE(reply.has_value()) << method << " " << target;
    return reply.value_or(Reply{});
  }

  FakeSource source_;
  std::unique_ptr<DashboardServer> server_;
};

absl::string_view AssetBody(absl::string_view path) {
  for (const WebAsset& a : WebAssets()) {
    if (a.path == path) return a.body;
  }
  return "<missing>";
}

TEST_F(DashboardServerTest, ServesEmbeddedFilesWithTheirTypes) {
  StartServer();
  const Reply index = Get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.headers.at("cache-control"), "no-cache");
  EXPECT_EQ(index.body, AssetBody("/index.html"));
  EXPECT_TRUE(absl::StrContains(index.body, "app.js"));

  const Reply js = Get("/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.headers.at("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, AssetBody("/app.js"));
  EXPECT_FALSE(js.body.empty());

  const Reply css = Get("/style.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.headers.at("content-type"), "text/css; charset=utf-8");

  const Reply head = Get("/style.css", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.at("content-length"), std::to_string(css.body.size()));
  EXPECT_EQ(Get("/healthz").body, "ok\n");
}

TEST_F(DashboardServerTest, UnknownPathsAndTraversalAre404) {
  StartServer();
  for (const char* target : {"/nope", "/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt",
                             "/web/index.html", "/api/nope", "/api/floor/"}) {
    const Reply r = Get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(ReasonOf(r.body), "NO_SUCH_PATH") << target;
  }
}

TEST_F(DashboardServerTest, OtherMethodsAre405) {
  StartServer();
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    const Reply r = Get("/api/floor?tenant=demo", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers.at("allow"), "GET, HEAD");
    EXPECT_EQ(ReasonOf(r.body), "METHOD_NOT_ALLOWED");
  }
}

TEST_F(DashboardServerTest, FloorJsonIsTheSourcesMessage) {
  StartServer();
  const Reply r = Get("/api/floor?tenant=demo");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  iv1::Floor parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &parsed).ok()) << r.body;
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, source_.DemoFloor()))
      << parsed.DebugString() << "\nvs\n"
      << source_.DemoFloor().DebugString();
  // Proto field names, primitives printed even when zero, absent figures absent.
  EXPECT_TRUE(absl::StrContains(r.body, "\"events_applied\":\"10\"")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "\"agents_busy\":0")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "\"service_level\":0.875")) << r.body;
  google::protobuf::Struct as_struct;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &as_struct).ok());
  const auto& window = as_struct.fields()
                           .at("queues")
                           .list_value()
                           .values(0)
                           .struct_value()
                           .fields()
                           .at("windows")
                           .list_value()
                           .values(0)
                           .struct_value()
                           .fields();
  EXPECT_EQ(window.count("service_level"), 0u) << r.body;
  EXPECT_EQ(window.count("asa_ms"), 0u) << r.body;
  EXPECT_EQ(window.count("offered"), 1u) << r.body;
}

TEST_F(DashboardServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  Conn conn(server_->port());
  ASSERT_TRUE(conn.connected());
  conn.Send(Request("GET", "/api/tenants") + Request("GET", "/healthz"));
  std::optional<Reply> tenants = ReadReply(conn);
  ASSERT_TRUE(tenants);
  EXPECT_EQ(tenants->body, R"({"tenants":["demo","other"]})");
  std::optional<Reply> health = ReadReply(conn);
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok\n");
}

TEST_F(DashboardServerTest, BadParametersAre400WithStableReasons) {
  StartServer();
  struct Case {
    const char* target;
    int status;
    const char* reason;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/floor", 400, "BAD_PARAMETER"},
           {"/api/floor?tenant=", 400, "BAD_PARAMETER"},
           {"/api/floor/stream", 400, "BAD_PARAMETER"},
           {"/api/intervals?queue=sales", 400, "BAD_PARAMETER"},
           {"/api/intervals?tenant=demo&from=yesterday", 400, "BAD_PARAMETER"},
           {"/api/intervals?tenant=demo&include_open=maybe", 400, "BAD_PARAMETER"},
           {"/api/forecast?tenant=demo", 400, "BAD_PARAMETER"},
           {"/api/forecast?tenant=demo&queue=sales&periods=four", 400, "BAD_PARAMETER"},
           {"/api/forecast?tenant=demo&queue=sales&alpha=nan", 400, "BAD_PARAMETER"},
           {"/api/forecast?tenant=demo&queue=sales&sl_target=1.5", 400, "BAD_PARAMETER"},
           {"/api/forecast?tenant=demo&queue=sales&patience_ms=-1", 400, "BAD_PARAMETER"},
           // The source's own errors: code → status, the message prefix → reason.
           {"/api/forecast?tenant=demo&queue=sales&day=2026-13-01", 400, "BAD_DAY"},
           {"/api/forecast?tenant=demo&queue=down", 503, "STORE_DOWN"},
           {"/api/floor?tenant=ghost", 404, "NO_SUCH_TENANT"},
           {"/api/floor/stream?tenant=ghost", 404, "NO_SUCH_TENANT"},
       }) {
    Reply r = Get(c.target);
    EXPECT_EQ(r.status, c.status) << c.target << " " << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/json") << c.target;
    EXPECT_EQ(ReasonOf(r.body), c.reason) << c.target << " " << r.body;
  }
  const Reply r = Get("/api/floor");
  EXPECT_TRUE(absl::StrContains(r.body, R"("code":"INVALID_ARGUMENT")")) << r.body;
}

TEST_F(DashboardServerTest, IntervalAndForecastParametersReachTheSource) {
  StartServer();
  Reply r =
      Get("/api/intervals?tenant=demo&queue=sales&from=2026-11-20T08:00:00Z"
          "&to=1795000000000&include_open=true");
  ASSERT_EQ(r.status, 200) << r.body;
  iv1::GetIntervalsResponse intervals;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &intervals).ok());
  EXPECT_EQ(intervals.intervals(0).offered(), 12);
  iv1::GetIntervalsRequest ir = source_.LastIntervals();
  EXPECT_EQ(ir.tenant_id(), "demo");
  EXPECT_EQ(ir.queue_id(), "sales");
  EXPECT_EQ(TimeUtil::ToString(ir.from()), "2026-11-20T08:00:00Z");
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(ir.to()), 1795000000000);
  EXPECT_TRUE(ir.include_open());

  r = Get("/api/intervals?tenant=demo");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(source_.LastIntervals().has_from());
  EXPECT_FALSE(source_.LastIntervals().has_to());

  r =
      Get("/api/forecast?tenant=demo&queue=sales&day=2026-11-24&seasonality=daily&periods=3"
          "&weighting=exponential&alpha=0.3&sl_target=0.9&sl_threshold_ms=30000"
          "&max_occupancy=0.85&max_abandon=0.05&patience_ms=60000");
  ASSERT_EQ(r.status, 200) << r.body;
  iv1::Forecast forecast;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &forecast).ok());
  EXPECT_EQ(forecast.rows(0).agents_erlang_c(), 3);
  iv1::GetForecastRequest fr = source_.LastForecast();
  EXPECT_EQ(fr.day(), "2026-11-24");
  EXPECT_EQ(fr.seasonality(), "daily");
  EXPECT_EQ(fr.periods(), 3);
  EXPECT_EQ(fr.weighting(), "exponential");
  EXPECT_DOUBLE_EQ(fr.alpha(), 0.3);
  EXPECT_DOUBLE_EQ(fr.sl_target(), 0.9);
  EXPECT_EQ(fr.sl_threshold_ms(), 30000);
  EXPECT_DOUBLE_EQ(fr.max_occupancy(), 0.85);
  EXPECT_DOUBLE_EQ(fr.max_abandon(), 0.05);
  EXPECT_EQ(fr.patience_ms(), 60000);
}

TEST_F(DashboardServerTest, StartFailsWithAHumanMessageWhenThePortIsTaken) {
  StartServer();
  DashboardServerOptions options;
  options.listen = absl::StrCat("127.0.0.1:", server_->port());
  DashboardServer second(source_, options);
  const absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(status.message(), "cannot listen on 127.0.0.1:")) << status;

  options.listen = "nonsense";
  DashboardServer third(source_, options);
  EXPECT_EQ(third.Start().code(), absl::StatusCode::kInvalidArgument);
}

// An open SSE stream: reads its response head, then frames.
class SseClient {
 public:
  explicit SseClient(int port) : conn_(port) {
    conn_.Send(Request("GET", "/api/floor/stream?tenant=demo"));
    std::optional<Reply> head = ReadReply(conn_, /*head=*/true);
    if (head) status_ = head->status, content_type_ = head->headers["content-type"];
  }
  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }

  // The next "floor" event's Floor, skipping other fields ("retry:"); nullopt at EOF/deadline.
  std::optional<iv1::Floor> NextFloor(Clock::time_point deadline = Clock::now() + kWait) {
    for (;;) {
      std::optional<std::string> event = conn_.ReadUntil("\n\n", deadline);
      if (!event) return std::nullopt;
      if (!absl::StrContains(*event, "event: floor\n")) continue;
      const size_t data = event->find("data: ");
      if (data == std::string::npos) return std::nullopt;
      const std::string json = event->substr(data + 6, event->size() - data - 8);
      EXPECT_FALSE(absl::StrContains(json, "\n")) << "a frame's data must be one line";
      iv1::Floor floor;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &floor).ok()) << json;
      return floor;
    }
  }
  Conn& conn() { return conn_; }

 private:
  Conn conn_;
  int status_ = 0;
  std::string content_type_;
};

TEST_F(DashboardServerTest, StreamSendsAFloorAtOnceThenOnEveryChange) {
  std::atomic<int> clients{0};
  absl::Mutex mu;
  int pushes = 0;  // guarded by mu
  DashboardServerOptions options;
  options.metrics.add_clients = [&](int d) { clients += d; };
  options.metrics.observe_push_seconds = [&](double s) {
    EXPECT_GE(s, 0.0);
    absl::MutexLock lock(&mu);
    ++pushes;
  };
  StartServer(options);
  SseClient sse(server_->port());
  ASSERT_EQ(sse.status(), 200);
  EXPECT_EQ(sse.content_type(), "text/event-stream");
  std::optional<iv1::Floor> first = sse.NextFloor();
  ASSERT_TRUE(first);
  EXPECT_TRUE(MessageDifferencer::Equals(*first, source_.DemoFloor()));
  EXPECT_EQ(clients.load(), 1);

  source_.Bump(11);
  std::optional<iv1::Floor> second = sse.NextFloor();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->events_applied(), 11);

  source_.Bump(12);
  std::optional<iv1::Floor> third = sse.NextFloor();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->events_applied(), 12);
  // Observed just after the frame is written: wait for it (the frame may arrive first).
  absl::MutexLock lock(&mu);
  auto two = [&] { return pushes >= 2; };
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&two), absl::Seconds(10)));
}

TEST_F(DashboardServerTest, StreamCoalescesBurstsOfChanges) {
  DashboardServerOptions options;
  options.min_push_interval = std::chrono::milliseconds(300);
  source_.StampAsOfNow();  // each Floor's as_of = when the server read it
  StartServer(options);
  SseClient sse(server_->port());
  std::optional<iv1::Floor> first = sse.NextFloor();
  ASSERT_TRUE(first);
  // A change every 10 ms for 1.2 s (the sleep paces the producer; nothing waits on it).
  const Clock::time_point end = Clock::now() + std::chrono::milliseconds(1200);
  int changes = 0;
  while (Clock::now() < end) {
    source_.Bump(1000 + ++changes);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<int64_t> read_at_ms = {TimeUtil::TimestampToMilliseconds(first->as_of())};
  for (;;) {
    std::optional<iv1::Floor> f = sse.NextFloor();
    ASSERT_TRUE(f);
    read_at_ms.push_back(TimeUtil::TimestampToMilliseconds(f->as_of()));
    if (f->events_applied() == 1000 + changes) break;
  }
  const int frames = static_cast<int>(read_at_ms.size()) - 1;
  // Pushed during the burst (not only at its end), but at most one frame per 300 ms: ~4 frames
  // for ~100 changes.
  EXPECT_GE(frames, 2) << changes << " changes";
  EXPECT_LE(frames, 6) << changes << " changes";
  EXPECT_LT(frames * 5, changes);
  for (size_t i = 1; i < read_at_ms.size(); ++i) {
    EXPECT_GE(read_at_ms[i] - read_at_ms[i - 1], 299) << "frame " << i;
  }
}

TEST_F(DashboardServerTest, StreamSendsHeartbeatsWithoutChanges) {
  DashboardServerOptions options;
  options.heartbeat = std::chrono::milliseconds(200);
  StartServer(options);
  SseClient sse(server_->port());
  ASSERT_TRUE(sse.NextFloor());
  const uint64_t version = source_.Version();
  ASSERT_TRUE(sse.NextFloor());
  ASSERT_TRUE(sse.NextFloor());
  EXPECT_EQ(source_.Version(), version);  // no change: these were heartbeats
}

TEST_F(DashboardServerTest, StopEndsOpenStreamsPromptly) {
  std::atomic<int> clients{0};
  DashboardServerOptions options;
  options.metrics.add_clients = [&](int d) { clients += d; };
  StartServer(options);
  SseClient a(server_->port());
  SseClient b(server_->port());
  ASSERT_TRUE(a.NextFloor());
  ASSERT_TRUE(b.NextFloor());
  EXPECT_EQ(clients.load(), 2);
  const Clock::time_point start = Clock::now();
  server_->Stop();
  const auto took = Clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(1500))
      << std::chrono::duration<double>(took).count() << " s";
  EXPECT_TRUE(a.conn().ReadsEof(Clock::now() + kWait));
  EXPECT_TRUE(b.conn().ReadsEof(Clock::now() + kWait));
  EXPECT_EQ(clients.load(), 0);
}

TEST_F(DashboardServerTest, ClosedStreamsAreNoticedAndCounted) {
  std::atomic<int> clients{0};
  absl::Mutex mu;
  DashboardServerOptions options;
  int opened = 0;  // guarded by mu
  options.metrics.add_clients = [&](int d) {
    absl::MutexLock lock(&mu);
    clients += d;
    if (d > 0) ++opened;
  };
  StartServer(options);
  {
    SseClient a(server_->port());
    ASSERT_TRUE(a.NextFloor());
  }
  // A refused stream (no such tenant) is a plain error reply, never counted as a client.
  EXPECT_EQ(Get("/api/floor/stream?tenant=ghost").status, 404);
  // The server notices the closed peer within its stop-check period (250 ms).
  absl::MutexLock lock(&mu);
  EXPECT_EQ(opened, 1);
  auto zero = [&] { return clients.load() == 0; };
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&zero), absl::Seconds(10)));
}

TEST(ApiTest, SplitTargetDecodesThePathAndParameters) {
  QueryParams params;
  EXPECT_EQ(SplitTarget("/api/floor?tenant=a%20b&x=1+2&flag&tenant=c", params), "/api/floor");
  EXPECT_EQ(params["tenant"], "c");
  EXPECT_EQ(params["x"], "1 2");
  EXPECT_EQ(params.count("flag"), 1u);
  EXPECT_EQ(SplitTarget("/a%2fb%zz", params), "/a/b%zz");
}

TEST(ApiTest, ParseTimeAcceptsRfc3339AndMilliseconds) {
  EXPECT_EQ(*ParseTimeMs("1795000000000"), 1795000000000);
  EXPECT_EQ(*ParseTimeMs("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(*ParseTimeMs("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_FALSE(ParseTimeMs("tomorrow").ok());
}

TEST(ApiTest, ErrorsWithoutAReasonUseTheCodeName) {
  const HttpReply r = ErrorReply(absl::InternalError("disk \"full\""));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"code":"INTERNAL","reason":"INTERNAL","message":"disk \"full\""})");
}

}  // namespace
}  // namespace sb::insights::http
