// The supervisor dashboard's HTTP server: the embedded page (web/), the JSON API and the live
// floor as server-sent events, all read through an InsightsSource. See docs/dashboard.md.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "insights/http/source.h"

namespace sb::insights::http {

// DashboardMetrics
//
// Hooks the service wires to its Prometheus registry (this library has no prometheus headers).
// Each may be empty. Called from the server's threads, concurrently: they must be thread-safe.
struct DashboardMetrics {
  // switchboard_insights_dashboard_clients: called with +1 when an SSE stream opens, -1 when it
  // closes.
  std::function<void(int delta)> add_clients;
  // switchboard_insights_dashboard_push_seconds: from a Version() change noticed by a stream to
  // its frame written to the socket (coalescing wait included).
  std::function<void(double seconds)> observe_push_seconds;
};

// DashboardServerOptions
//
// `listen` is "host:port" ("127.0.0.1:8080", "[::1]:8080"); ":8080" or "0.0.0.0:8080" for every
// interface; port 0 lets the kernel pick (see DashboardServer::port()).
struct DashboardServerOptions {
  std::string listen = "127.0.0.1:8080";
  // A stream sends at most one frame per min_push_interval, and one at least every heartbeat.
  std::chrono::milliseconds min_push_interval{250};
  std::chrono::milliseconds heartbeat{5000};
  // Open SSE streams beyond this get 503 TOO_MANY_STREAMS (each holds a thread).
  int max_streams = 64;
  DashboardMetrics metrics;
};

// DashboardServer
//
// Serves plain HTTP/1.1 (GET and HEAD):
//   /                      index.html, and the other embedded files of web/ by name
//   /healthz               "ok"
//   /api/tenants           ListTenantsResponse
//   /api/floor?tenant=     Floor
//   /api/intervals?tenant=&queue=&from=&to=&include_open=     GetIntervalsResponse
//   /api/forecast?tenant=&queue=&day=&...                      Forecast
//   /api/floor/stream?tenant=   text/event-stream of "event: floor" frames
// JSON is the protos' canonical mapping with the proto field names; errors are
// {"code","reason","message"} with 400/404/405/500/503.
//
// Threads: one IO thread runs an io_context with every ordinary connection (asynchronous, keep-
// alive, 30 s idle timeout); the source's answers are in-memory and quick, so they are computed on
// that thread. Each SSE stream gets its own thread (blocking writes, WaitForChange with deadlines
// of at most 250 ms so Stop() is seen quickly), up to max_streams.
//
// Lifecycle: construct, Start() once, Stop() (also run by the destructor) once. Start() and Stop()
// are called from one owner thread; port() from any thread after Start(). The source must outlive
// the server.
class DashboardServer {
 public:
  DashboardServer(InsightsSource& source, DashboardServerOptions options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Binds and starts serving. Errors: INVALID_ARGUMENT for an unparsable address,
  // UNAVAILABLE "cannot listen on <address>: <reason>" when the bind fails.
  absl::Status Start();
  // The bound port (the kernel's pick for port 0). 0 before Start().
  int port() const { return port_.load(); }
  // Stops accepting, closes every connection and stream, and joins the threads. Returns within
  // about a second even with streams open.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<int> port_{0};
};

}  // namespace sb::insights::http
