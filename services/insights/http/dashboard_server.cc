#include "insights/http/dashboard_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <list>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "insights/http/api.h"
#include "insights/http/web_assets.h"
#include "spdlog/spdlog.h"

namespace sb::insights::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kIdleTimeout = std::chrono::seconds(30);
// The longest a stream thread blocks in WaitForChange before re-checking the stop flag.
constexpr auto kStopCheck = std::chrono::milliseconds(250);

std::shared_ptr<spdlog::logger> Log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto existing = spdlog::get("insights.http");
    if (existing) return existing;
    auto created = spdlog::default_logger()->clone("insights.http");
    return created;
  }();
  return logger;
}

bool IsStreamPath(absl::string_view path) { return path == "/api/floor/stream"; }

HttpReply StaticOrNotFound(absl::string_view path) {
  if (path == "/" || path.empty()) path = "/index.html";
  for (const WebAsset& asset : WebAssets()) {
    if (asset.path == path) {
      return HttpReply{200, std::string(ContentTypeFor(path)), std::string(asset.body)};
    }
  }
  return ErrorReply(absl::NotFoundError(absl::StrCat("NO_SUCH_PATH: no page ", path)));
}

// Everything but the stream: static files, /healthz and the JSON API.
HttpReply Route(InsightsSource& source, absl::string_view target) {
  QueryParams params;
  const std::string path = SplitTarget(target, params);
  if (path == "/healthz") return HttpReply{200, "text/plain; charset=utf-8", "ok\n"};
  if (path.rfind("/api/", 0) == 0) return HandleApi(source, path, params);
  return StaticOrNotFound(path);
}

bhttp::response<bhttp::string_body> ToResponse(HttpReply reply, bool head, unsigned version,
                                               bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status), version};
  res.set(bhttp::field::server, "sb-insights");
  res.set(bhttp::field::content_type, reply.content_type);
  res.set(bhttp::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(keep_alive);
  res.content_length(reply.body.size());
  if (!head) res.body() = std::move(reply.body);
  return res;
}

absl::StatusOr<tcp::endpoint> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BAD_LISTEN_ADDRESS: listen address must be host:port (127.0.0.1:8080, :0), got '", listen,
        "'"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("BAD_LISTEN_ADDRESS: port must be 0..65535 in '", listen, "'"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BAD_LISTEN_ADDRESS: host must be an IP address (or localhost) in '", listen, "'"));
  }
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

}  // namespace

// One SSE stream: its thread, its socket's descriptor (for Stop() to shut it down) and whether
// it ended (so a later accept can join the thread).
struct Stream {
  std::thread thread;
  int fd = -1;
  bool done = false;
};

struct DashboardServer::Impl {
  Impl(InsightsSource& source, DashboardServerOptions options)
      : source(source), options(std::move(options)) {}

  InsightsSource& source;
  const DashboardServerOptions options;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread io_thread;
  std::atomic<bool> stopping{false};

  absl::Mutex mu;
  std::list<Stream> streams ABSL_GUARDED_BY(mu);
  int open_streams ABSL_GUARDED_BY(mu) = 0;

  void Accept();
  // Called on the IO thread with a parsed stream request; takes the socket.
  void StartStream(tcp::socket socket, std::string target, bool head, unsigned version);
  void RunStream(Stream* stream, tcp::socket socket, iv1::GetFloorRequest request);
  void JoinFinishedStreams() ABSL_LOCKS_EXCLUDED(mu);
};

namespace {

// An ordinary keep-alive HTTP connection on the IO thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, DashboardServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void Read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    bhttp::async_read(stream_, buffer_, request_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

 private:
  void OnRead(beast::error_code ec, size_t) {
    if (ec) {
      // Client closed, idle timeout, or a malformed request: just drop the connection.
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    const bool head = request_.method() == bhttp::verb::head;
    const bool get = request_.method() == bhttp::verb::get;
    if (!get && !head) {
      auto res = ToResponse(
          ErrorReply(absl::Status(absl::StatusCode::kUnimplemented,
                                  absl::StrCat("METHOD_NOT_ALLOWED: only GET and HEAD, got ",
                                               std::string(request_.method_string())))),
          false, request_.version(), request_.keep_alive());
      res.result(bhttp::status::method_not_allowed);
      res.set(bhttp::field::allow, "GET, HEAD");
      Write(std::move(res));
      return;
    }
    const std::string target(request_.target());
    const size_t q = target.find('?');
    if (IsStreamPath(target.substr(0, q))) {
      beast::get_lowest_layer(stream_).expires_never();
      server_->StartStream(stream_.release_socket(), target, head, request_.version());
      return;
    }
    Write(ToResponse(Route(server_->source, target), head, request_.version(),
                     request_.keep_alive()));
  }

  void Write(bhttp::response<bhttp::string_body> res) {
    response_ = std::make_shared<bhttp::response<bhttp::string_body>>(std::move(res));
    bhttp::async_write(
        stream_, *response_,
        beast::bind_front_handler(&Session::OnWrite, shared_from_this(), response_->need_eof()));
  }

  void OnWrite(bool close, beast::error_code ec, size_t) {
    if (ec) return;
    if (close || server_->stopping.load()) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    Read();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::string_body> request_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> response_;
  DashboardServer::Impl* server_;
};

// Writes all of `data`; false when the peer is gone (or Stop() shut the socket down).
bool WriteAll(tcp::socket& socket, absl::string_view data) {
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(data.data(), data.size()), ec);
  return !ec;
}

// True when the peer closed its side (EventSource never sends after its request).
bool PeerClosed(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    if (n > 0) {
      // Stray bytes after the request: discard them.
      char sink[512];
      while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
      }
    }
  }
  return false;
}

std::string HttpHead(unsigned version, const HttpReply& reply, bool head) {
  std::string out =
      absl::StrCat(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", reply.status, " ",
                   std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(reply.status))),
                   "\r\nServer: sb-insights\r\nContent-Type: ", reply.content_type,
                   "\r\nCache-Control: no-cache\r\nConnection: close\r\n");
  if (reply.content_type != "text/event-stream") {
    absl::StrAppend(&out, "Content-Length: ", reply.body.size(), "\r\n");
  } else {
    absl::StrAppend(&out, "X-Accel-Buffering: no\r\n");
  }
  absl::StrAppend(&out, "\r\n");
  if (!head && reply.content_type != "text/event-stream") absl::StrAppend(&out, reply.body);
  return out;
}

}  // namespace

void DashboardServer::Impl::Accept() {
  acceptor.async_accept(ioc, [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor.is_open() || stopping.load()) return;
      Log()->warn("dashboard accept failed: {}", ec.message());
    } else {
      std::make_shared<Session>(std::move(socket), this)->Read();
    }
    Accept();
  });
}

void DashboardServer::Impl::JoinFinishedStreams() {
  std::list<Stream> finished;
  {
    absl::MutexLock lock(&mu);
    for (auto it = streams.begin(); it != streams.end();) {
      if (it->done) {
        auto next = std::next(it);
        finished.splice(finished.end(), streams, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (Stream& s : finished) s.thread.join();
}

void DashboardServer::Impl::StartStream(tcp::socket socket, std::string target, bool head,
                                        unsigned version) {
  JoinFinishedStreams();
  QueryParams params;
  SplitTarget(target, params);
  absl::StatusOr<iv1::GetFloorRequest> request = ParseFloorRequest(params);
  std::optional<HttpReply> refusal;
  if (!request.ok()) {
    refusal = ErrorReply(request.status());
  } else if (head) {
    refusal = HttpReply{200, "text/event-stream", ""};
  } else if (stopping.load()) {
    refusal = ErrorReply(absl::UnavailableError("SHUTTING_DOWN: the server is stopping"));
  }
  Stream* stream = nullptr;
  if (!refusal) {
    absl::MutexLock lock(&mu);
    if (open_streams >= options.max_streams) {
      refusal = ErrorReply(absl::UnavailableError(absl::StrCat(
          "TOO_MANY_STREAMS: ", open_streams, " streams open (max ", options.max_streams, ")")));
    } else {
      ++open_streams;
      stream = &streams.emplace_back();
      stream->fd = socket.native_handle();
    }
  }
  if (refusal) {
    // Small: fits the socket buffer, so this blocking write does not stall the IO thread.
    WriteAll(socket, HttpHead(version, *refusal, head));
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  absl::MutexLock lock(&mu);
  stream->thread =
      std::thread([this, stream, s = std::move(socket), r = std::move(*request)]() mutable {
        RunStream(stream, std::move(s), std::move(r));
      });
}

void DashboardServer::Impl::RunStream(Stream* stream, tcp::socket socket,
                                      iv1::GetFloorRequest request) {
  const int fd = socket.native_handle();
  uint64_t seen = source.Version();
  absl::StatusOr<iv1::Floor> first = source.GetFloor(request);
  bool ok = true;
  if (!first.ok()) {
    // Not a stream after all (an unknown tenant, ...): a plain error reply.
    WriteAll(socket, HttpHead(11, ErrorReply(first.status()), false));
    ok = false;
  } else {
    if (options.metrics.add_clients) options.metrics.add_clients(+1);
    ok = WriteAll(socket, HttpHead(11, HttpReply{200, "text/event-stream", ""}, false) +
                              "retry: 1000\n\n" + "event: floor\ndata: " + ToJson(*first) + "\n\n");
  }
  Clock::time_point last_sent = Clock::now();
  bool pending = false;  // a change seen and not yet pushed, since `noticed`
  Clock::time_point noticed = last_sent;
  while (ok && !stopping.load()) {
    if (PeerClosed(fd)) break;
    const Clock::time_point now = Clock::now();
    const Clock::time_point earliest = last_sent + options.min_push_interval;
    const bool heartbeat_due = now >= last_sent + options.heartbeat;
    if ((pending && now >= earliest) || heartbeat_due) {
      seen = std::max(seen, source.Version());
      absl::StatusOr<iv1::Floor> floor = source.GetFloor(request);
      std::string frame =
          floor.ok()
              ? absl::StrCat("event: floor\ndata: ", ToJson(*floor), "\n\n")
              : absl::StrCat("event: error\ndata: ", ErrorReply(floor.status()).body, "\n\n");
      ok = WriteAll(socket, frame);
      last_sent = Clock::now();
      if (ok && pending && options.metrics.observe_push_seconds) {
        options.metrics.observe_push_seconds(
            std::chrono::duration<double>(last_sent - noticed).count());
      }
      pending = false;
      continue;
    }
    // Wait for a change (or, with one pending, for the coalescing window to end), the heartbeat,
    // or the stop check, whichever comes first.
    Clock::time_point deadline = std::min(last_sent + options.heartbeat, now + kStopCheck);
    if (pending) deadline = std::min(deadline, earliest);
    const uint64_t version = source.WaitForChange(seen, deadline);
    if (version > seen) {
      seen = version;
      if (!pending) noticed = Clock::now();
      pending = true;
    }
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  {
    absl::MutexLock lock(&mu);
    socket.close(ignored);
    stream->fd = -1;
    stream->done = true;
    --open_streams;
  }
  if (first.ok() && options.metrics.add_clients) options.metrics.add_clients(-1);
}

DashboardServer::DashboardServer(InsightsSource& source, DashboardServerOptions options)
    : impl_(std::make_unique<Impl>(source, std::move(options))) {}

DashboardServer::~DashboardServer() { Stop(); }

absl::Status DashboardServer::Start() {
  absl::StatusOr<tcp::endpoint> endpoint = ParseListen(impl_->options.listen);
  if (!endpoint.ok()) return endpoint.status();
  beast::error_code ec;
  tcp::acceptor& acceptor = impl_->acceptor;
  auto fail = [&](absl::string_view what) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return absl::UnavailableError(absl::StrCat("LISTEN_FAILED: cannot listen on ",
                                               impl_->options.listen, ": ", what, ": ",
                                               ec.message(), " (is another process using it?)"));
  };
  if (acceptor.open(endpoint->protocol(), ec)) return fail("open");
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec)) return fail("setsockopt");
  if (acceptor.bind(*endpoint, ec)) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  port_.store(acceptor.local_endpoint().port());
  impl_->Accept();
  impl_->io_thread = std::thread([this] { impl_->ioc.run(); });
  Log()->info("dashboard listening on http://{}:{}/", endpoint->address().to_string(),
              port_.load());
  return absl::OkStatus();
}

void DashboardServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  impl_->ioc.stop();
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);  // the IO thread is gone: safe to touch from here
  {
    // Unblock streams stuck in a write to a client that does not read.
    absl::MutexLock lock(&impl_->mu);
    for (Stream& s : impl_->streams) {
      if (s.fd >= 0) ::shutdown(s.fd, SHUT_RDWR);
    }
  }
  std::list<Stream> all;
  {
    absl::MutexLock lock(&impl_->mu);
    all.splice(all.end(), impl_->streams);
  }
  for (Stream& s : all) {
    if (s.thread.joinable()) s.thread.join();
  }
}

absl::string_view ContentTypeFor(absl::string_view path) {
  const size_t dot = path.rfind('.');
  const absl::string_view ext = dot == absl::string_view::npos ? "" : path.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".json") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace sb::insights::http
