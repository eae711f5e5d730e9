// The contract suite on SQLite, plus OpenStore's URL handling.
#include "recording/storage/sqlite_store.h"

#include <stdlib.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "recording/storage/open_store.h"
#include "recording/storage/store_contract.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {
namespace {

// A temp directory per test holding one database file.
class SqliteHarness : public StoreHarness {
 public:
  ~SqliteHarness() override {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  absl::StatusOr<std::string> NewDatabaseUrl() override {
    std::string templ = (std::filesystem::temp_directory_path() / "sb-sqlite-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    dir_ = templ;
    return Cat("sqlite://", dir_, "/recording.db");
  }

 private:
  std::string dir_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
                         ::testing::Values(ContractParam{
                             "sqlite", [] { return std::make_unique<SqliteHarness>(); }}),
                         ContractParamName);

TEST(OpenStoreTest, RejectsUnknownSchemes) {
  for (const char* url : {"", "mysql://u:secret@h/db", "sqlite:", "sqlite://", "file:///x.db"}) {
    auto store = OpenStore(url);
    EXPECT_TRUE(HasReason(store.status(), absl::StatusCode::kInvalidArgument, "BAD_STORE_URL"))
        << url;
    EXPECT_EQ(store.status().message().find("secret"), std::string_view::npos);
  }
}

TEST(OpenStoreTest, OpensInMemorySqlite) {
  auto store = OpenStore("sqlite::memory:");
  ASSERT_TRUE(store.ok()) << store.status();
  auto r = (*store)->CreateRecording([] {
    Recording r;
    r.id = "r1";
    r.tenant_id = "t";
    r.interaction_id = "i";
    return r;
  }());
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(OpenStoreTest, MissingDirectoryIsUnavailable) {
  auto store = OpenStore("sqlite:///nonexistent-dir-for-sb-test/x.db");
  EXPECT_TRUE(HasReason(store.status(), absl::StatusCode::kUnavailable, "DB_UNAVAILABLE"))
      << store.status();
}

TEST(OpenStoreTest, UnreachablePostgresIsUnavailable) {
  // A socket directory with no server: fails fast, without a network.
  auto store = OpenStore("postgresql:///db?host=/nonexistent-sb-socket-dir&connect_timeout=2");
  EXPECT_TRUE(HasReason(store.status(), absl::StatusCode::kUnavailable, "DB_UNAVAILABLE"))
      << store.status();
}

}  // namespace
}  // namespace sb::recording::storage::testing
