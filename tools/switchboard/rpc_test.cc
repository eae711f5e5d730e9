#include "switchboard/rpc.h"

#include "gtest/gtest.h"

namespace sb::cli {
namespace {

// No real channels: the attempts below never use them.
std::shared_ptr<grpc::Channel> NoChannel(const std::string&) { return nullptr; }

TEST(ParseServerList, OneOrSeveralAddresses) {
  EXPECT_EQ(*ParseServerList("127.0.0.1:7070"), std::vector<std::string>{"127.0.0.1:7070"});
  EXPECT_EQ(*ParseServerList("a:1, b:2"), (std::vector<std::string>{"a:1", "b:2"}));
}

TEST(ParseServerList, RejectsEmptyEntriesAndMissingPorts) {
  EXPECT_FALSE(ParseServerList("").ok());
  EXPECT_FALSE(ParseServerList("a:1,,b:2").ok());
  EXPECT_FALSE(ParseServerList("localhost").ok());
  EXPECT_FALSE(ParseServerList("localhost:").ok());
  EXPECT_FALSE(ParseServerList("localhost:http").ok());
}

TEST(ShouldTryNextServer, OnlyUnavailable) {
  EXPECT_TRUE(ShouldTryNextServer(grpc::Status(grpc::StatusCode::UNAVAILABLE, "NOT_OWNER: p3")));
  EXPECT_TRUE(ShouldTryNextServer(grpc::Status(grpc::StatusCode::UNAVAILABLE, "RECOVERING: p3")));
  EXPECT_FALSE(
      ShouldTryNextServer(grpc::Status(grpc::StatusCode::NOT_FOUND, "NO_SUCH_QUEUE: billing")));
  EXPECT_FALSE(ShouldTryNextServer(grpc::Status::OK));
}

TEST(ServerSet, MovesOnFromANonOwnerToTheOwner) {
  ServerSet servers({"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, std::chrono::seconds(5),
                    NoChannel);
  int calls = 0;
  const grpc::Status status =
      servers.Call([&](const std::shared_ptr<grpc::Channel>&, grpc::ClientContext*) {
        ++calls;
        return calls < 2 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "NOT_OWNER: partition 1")
                         : grpc::Status::OK;
      });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(servers.last_server(), "127.0.0.1:2");
}

TEST(ServerSet, StopsAtAFinalError) {
  ServerSet servers({"127.0.0.1:1", "127.0.0.1:2"}, std::chrono::seconds(5), NoChannel);
  int calls = 0;
  const grpc::Status status =
      servers.Call([&](const std::shared_ptr<grpc::Channel>&, grpc::ClientContext*) {
        ++calls;
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "NO_SUCH_QUEUE: x");
      });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(calls, 1);
}

TEST(ServerSet, KeepsTheOwnersReasonOverATransportFailure) {
  ServerSet servers({"127.0.0.1:1", "127.0.0.1:2"}, std::chrono::seconds(5), NoChannel);
  int calls = 0;
  const grpc::Status status =
      servers.Call([&](const std::shared_ptr<grpc::Channel>&, grpc::ClientContext*) {
        return ++calls == 1 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "NOT_OWNER: p1")
                            : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                           "failed to connect to all addresses");
      });
  EXPECT_EQ(status.error_message(), "NOT_OWNER: p1");
  EXPECT_EQ(servers.last_server(), "127.0.0.1:1");
}

TEST(ServerSet, RetriesARecoveringPartitionUntilItAnswers) {
  ServerSet servers({"127.0.0.1:1"}, std::chrono::seconds(5), NoChannel);
  int calls = 0;
  const grpc::Status status =
      servers.Call([&](const std::shared_ptr<grpc::Channel>&, grpc::ClientContext*) {
        return ++calls < 3 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "RECOVERING: p1")
                           : grpc::Status::OK;
      });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace sb::cli
