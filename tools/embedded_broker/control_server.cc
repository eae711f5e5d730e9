#include "embedded_broker/control_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace sb::broker {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(what + ": " + std::strerror(errno));
}

// Writes all of `data` or gives up (peer gone, or not reading for the send timeout).
bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct Client {
  int fd;
  std::string buffer;  // bytes received after the last complete line
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(int port, Handler handler) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("--control-port must be 0..65535 (0 picks a free port)");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("control port: socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status s = Errno("control port: cannot bind 127.0.0.1:" + std::to_string(port) +
                           " (pick another --control-port, or 0 for a free one)");
    ::close(fd);
    return s;
  }
  if (::listen(fd, 16) != 0) {
    absl::Status s = Errno("control port: listen");
    ::close(fd);
    return s;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    absl::Status s = Errno("control port: pipe");
    ::close(fd);
    return s;
  }
  auto server = std::unique_ptr<ControlServer>(
      new ControlServer(fd, pipe_fds[0], pipe_fds[1], ntohs(addr.sin_port), std::move(handler)));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

ControlServer::ControlServer(int listen_fd, int wake_read_fd, int wake_write_fd, int port,
                             Handler handler)
    : listen_fd_(listen_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      port_(port),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  Stop();
  ::close(listen_fd_);
  ::close(wake_read_fd_);
  ::close(wake_write_fd_);
}

void ControlServer::Stop() {
  if (!thread_.joinable()) return;
  char byte = 'x';
  ssize_t ignored = ::write(wake_write_fd_, &byte, 1);
  (void)ignored;  // a full pipe already wakes the thread
  thread_.join();
}

void ControlServer::Run() {
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({wake_read_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Client& c : clients) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with valid descriptors; stop serving rather than spin
    }
    if (fds[0].revents != 0) break;

    // Connections first seen in this round are polled from the next one.
    std::vector<bool> close_client(clients.size(), false);
    for (size_t i = 0; i < clients.size(); ++i) {
      if (fds[i + 2].revents == 0) continue;
      Client& c = clients[i];
      char buf[4096];
      ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close_client[i] = true;
        continue;
      }
      c.buffer.append(buf, static_cast<size_t>(n));
      size_t newline;
      while (!close_client[i] && (newline = c.buffer.find('\n')) != std::string::npos) {
        std::string line = c.buffer.substr(0, newline);
        c.buffer.erase(0, newline + 1);
        std::string reply = handler_(line);
        if (!reply.empty() && !SendAll(c.fd, reply + "\n")) close_client[i] = true;
      }
      if (!close_client[i] && c.buffer.size() > kMaxControlLine) {
        SendAll(c.fd, "error LINE_TOO_LONG: a command line is at most " +
                          std::to_string(kMaxControlLine) + " bytes; closing the connection\n");
        close_client[i] = true;
      }
    }
    for (size_t i = clients.size(); i-- > 0;) {
      if (close_client[i]) {
        ::close(clients[i].fd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }

    if (fds[1].revents & POLLIN) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        timeval timeout{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        if (clients.size() >= static_cast<size_t>(kMaxControlClients)) {
          SendAll(fd, "error TOO_MANY_CONNECTIONS: at most " + std::to_string(kMaxControlClients) +
                          " control connections; close one and retry\n");
          ::close(fd);
        } else {
          clients.push_back({fd, {}});
        }
      }
    }
  }
  for (const Client& c : clients) ::close(c.fd);
}

}  // namespace sb::broker
