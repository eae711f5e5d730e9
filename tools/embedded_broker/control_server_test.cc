// The control port: a real loopback TCP server on a free port, driven by real sockets.
#include "embedded_broker/control_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

namespace sb::broker {
namespace {

using ::testing::StartsWith;

// A blocking client with a deadline on every read, so a broken server fails the test instead of
// hanging it.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }

  void Send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }

  // The next line, without '\n'; "<eof>" if the server closed; "<timeout>" after 10 s.
  std::string ReadLine() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "<timeout>";
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[1024];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return "<eof>";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

absl::StatusOr<std::unique_ptr<ControlServer>> EchoServer(std::atomic<int>* calls = nullptr) {
  return ControlServer::Start(0, [calls](std::string_view line) -> std::string {
    if (calls != nullptr) ++*calls;
    if (line == "silent") return "";
    return "ok " + std::string(line);
  });
}

TEST(EmbeddedBrokerControlPort, PicksAFreePortAndAnswersEveryLine) {
  auto server = EchoServer();
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  // Two lines in one packet, then one split across packets; '\r\n' is passed to the handler as
  // is (the parser strips the '\r').
  client.Send("one\ntwo\nthr");
  EXPECT_EQ(client.ReadLine(), "ok one");
  EXPECT_EQ(client.ReadLine(), "ok two");
  client.Send("ee\r\nsilent\nfour\n");
  EXPECT_EQ(client.ReadLine(), "ok three\r");
  EXPECT_EQ(client.ReadLine(), "ok four");  // nothing was sent for "silent"
}

TEST(EmbeddedBrokerControlPort, ServesSeveralClientsAtOnce) {
  auto server = EchoServer();
  ASSERT_TRUE(server.ok());
  Client a((*server)->port());
  Client b((*server)->port());
  b.Send("from b\n");
  EXPECT_EQ(b.ReadLine(), "ok from b");  // a, idle and connected, does not block b
  a.Send("from a\n");
  EXPECT_EQ(a.ReadLine(), "ok from a");
}

TEST(EmbeddedBrokerControlPort, OverlongLineIsRefusedAndTheConnectionClosed) {
  std::atomic<int> calls{0};
  auto server = EchoServer(&calls);
  ASSERT_TRUE(server.ok());
  Client client((*server)->port());
  client.Send(std::string(kMaxControlLine + 10, 'x'));
  EXPECT_THAT(client.ReadLine(), StartsWith("error LINE_TOO_LONG"));
  EXPECT_EQ(client.ReadLine(), "<eof>");
  EXPECT_EQ(calls.load(), 0);
  Client next((*server)->port());  // the server itself is fine
  next.Send("ping\n");
  EXPECT_EQ(next.ReadLine(), "ok ping");
}

TEST(EmbeddedBrokerControlPort, StopClosesConnectionsAndIsIdempotent) {
  auto server = EchoServer();
  ASSERT_TRUE(server.ok());
  Client client((*server)->port());
  client.Send("hello\n");
  EXPECT_EQ(client.ReadLine(), "ok hello");
  (*server)->Stop();
  EXPECT_EQ(client.ReadLine(), "<eof>");
  (*server)->Stop();
}

TEST(EmbeddedBrokerControlPort, BusyPortIsAClearError) {
  auto first = EchoServer();
  ASSERT_TRUE(first.ok());
  auto second = ControlServer::Start((*first)->port(), [](std::string_view) { return ""; });
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("--control-port"));
}

}  // namespace
}  // namespace sb::broker
