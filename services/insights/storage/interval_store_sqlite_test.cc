// The contract suite on SQLite (files in a fresh temporary directory per test), plus what only
// the embedded mode or the SQL adapter itself can show: URL forms, and the retry on ABORTED.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "insights/storage/interval_store.h"
#include "insights/storage/interval_store_contract.h"
#include "insights/storage/sql_interval_store.h"
#include "recording/storage/sqlite_store.h"

namespace sb::insights::storage::testing {
namespace {

namespace fs = std::filesystem;
using recording::storage::SqlDialect;
using recording::storage::SqlDriver;
using recording::storage::SqlResult;
using recording::storage::SqlTx;
using recording::storage::SqlValue;
using recording::storage::TxMode;

// A fresh directory under the test temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::path(::testing::TempDir()) / "sb_insights_storage_XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class SqliteHarness : public IntervalStoreHarness {
 public:
  absl::StatusOr<std::string> NewDatabaseUrl() override {
    if (dir_.path().empty()) return absl::InternalError("mkdtemp failed");
    return "sqlite://" + (fs::path(dir_.path()) / "insights.db").string();
  }
  absl::StatusOr<std::shared_ptr<SqlDriver>> OpenDriver(const std::string& url) override {
    return recording::storage::OpenSqliteDriver(url.substr(std::string("sqlite://").size()));
  }

 private:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, IntervalStoreContractTest,
                         ::testing::Values(IntervalContractParam{
                             "sqlite", [] { return std::make_unique<SqliteHarness>(); }}),
                         IntervalContractParamName);

IntervalAggregate Rec(std::string tenant, int64_t start_ms, int64_t offered) {
  IntervalAggregate r;
  r.tenant_id = std::move(tenant);
  r.queue_id = "sales";
  r.start_ms = start_ms;
  r.offered = offered;
  return r;
}

TEST(OpenIntervalStoreTest, BadUrlsAreRefused) {
  for (const char* url : {"", "sqlite:", "sqlite://", "sqlite:memory:", "mysql://db/insights",
                          "file:///tmp/x.db", "postgresq://host/db", "/tmp/insights.db"}) {
    SCOPED_TRACE(url);
    EXPECT_TRUE(HasReason(StatusOf(OpenIntervalStore(url)), absl::StatusCode::kInvalidArgument,
                          "BAD_STORE_URL"));
  }
  // The message echoes only the scheme, never a password.
  auto s = StatusOf(OpenIntervalStore("redis://user:s3cret@host/0"));
  EXPECT_EQ(std::string(s.message()).find("s3cret"), std::string::npos) << s;
}

TEST(OpenIntervalStoreTest, MemoryStoresArePrivate) {
  auto a = OpenIntervalStore("sqlite::memory:");
  auto b = OpenIntervalStore("sqlite::memory:");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->Put({Rec("acme", 0, 3)}, /*replace=*/true).ok());
  auto in_a = (*a)->Range("acme", "", 0, kIntervalMs);
  auto in_b = (*b)->Range("acme", "", 0, kIntervalMs);
  ASSERT_TRUE(in_a.ok() && in_b.ok());
  EXPECT_EQ(*in_a, std::vector<IntervalAggregate>{Rec("acme", 0, 3)});
  EXPECT_TRUE(in_b->empty());
}

TEST(OpenIntervalStoreTest, RelativeAndAbsoluteSqlitePathsNameTheSameFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const fs::path file = fs::path(dir.path()) / "rel.db";
  const fs::path relative = fs::relative(file, fs::current_path());
  ASSERT_TRUE(relative.is_relative()) << relative;
  {
    auto store = OpenIntervalStore("sqlite://" + relative.string());
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put({Rec("acme", 0, 4)}, /*replace=*/true).ok());
  }
  EXPECT_TRUE(fs::exists(file));
  auto store = OpenIntervalStore("sqlite://" + file.string());  // sqlite:///abs/...
  ASSERT_TRUE(store.ok()) << store.status();
  auto rows = (*store)->Range("acme", "sales", 0, kIntervalMs);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, std::vector<IntervalAggregate>{Rec("acme", 0, 4)});
}

TEST(OpenIntervalStoreTest, MissingDirectoryIsUnavailable) {
  TempDir dir;
  auto store = OpenIntervalStore("sqlite://" + dir.path() + "/no/such/dir/x.db");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

// ---- Retry on ABORTED, through a driver that fails commits on demand ----

class FlakyDriver : public SqlDriver {
 public:
  explicit FlakyDriver(std::shared_ptr<SqlDriver> inner) : inner_(std::move(inner)) {}
  SqlDialect dialect() const override { return inner_->dialect(); }
  absl::StatusOr<std::unique_ptr<SqlTx>> Begin(TxMode mode) override {
    auto tx = inner_->Begin(mode);
    if (!tx.ok()) return tx.status();
    return std::unique_ptr<SqlTx>(std::make_unique<Tx>(*this, *std::move(tx)));
  }

  std::atomic<int> failures_left{0};  // commits to fail, then succeed
  absl::Status failure = absl::AbortedError("DB_CONFLICT: injected");
  std::atomic<int> commits{0};  // attempted

 private:
  class Tx : public SqlTx {
   public:
    Tx(FlakyDriver& driver, std::unique_ptr<SqlTx> inner)
        : driver_(driver), inner_(std::move(inner)) {}
    absl::StatusOr<SqlResult> Exec(std::string_view sql, std::span<const SqlValue> params,
                                   bool cacheable) override {
      return inner_->Exec(sql, params, cacheable);
    }
    absl::Status Commit() override {
      ++driver_.commits;
      if (driver_.failures_left.fetch_sub(1) > 0) return driver_.failure;  // inner rolls back
      return inner_->Commit();
    }

   private:
    FlakyDriver& driver_;
    std::unique_ptr<SqlTx> inner_;
  };

  std::shared_ptr<SqlDriver> inner_;
};

struct FlakyStore {
  std::shared_ptr<FlakyDriver> driver;
  std::unique_ptr<IntervalStore> store;
};

FlakyStore NewFlakyStore() {
  auto inner = recording::storage::OpenSqliteDriver(":memory:");
  EXPECT_TRUE(inner.ok()) << inner.status();
  FlakyStore out;
  out.driver = std::make_shared<FlakyDriver>(*std::move(inner));
  auto store = NewSqlIntervalStore(out.driver);
  EXPECT_TRUE(store.ok()) << store.status();
  if (store.ok()) out.store = *std::move(store);
  out.driver->commits = 0;
  return out;
}

TEST(SqlIntervalStoreTest, AbortedWritesAreRetried) {
  FlakyStore f = NewFlakyStore();
  ASSERT_NE(f.store, nullptr);
  f.driver->failures_left = 2;
  auto written = f.store->Put({Rec("acme", 0, 1), Rec("acme", kIntervalMs, 2)}, true);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 2);
  EXPECT_EQ(f.driver->commits.load(), 3);
  auto rows = f.store->Range("acme", "", 0, 2 * kIntervalMs);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 2u);
}

TEST(SqlIntervalStoreTest, PersistentConflictIsReturnedAfterBoundedAttempts) {
  FlakyStore f = NewFlakyStore();
  ASSERT_NE(f.store, nullptr);
  f.driver->failures_left = 1000;
  auto written = f.store->Put({Rec("acme", 0, 1)}, true);
  EXPECT_EQ(written.status().code(), absl::StatusCode::kAborted) << written.status();
  const int attempts = f.driver->commits.load();
  EXPECT_GT(attempts, 1);
  EXPECT_LT(attempts, 10);
  f.driver->failures_left = 0;
  auto rows = f.store->Range("acme", "", 0, kIntervalMs);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_TRUE(rows->empty());  // every attempt rolled back
}

TEST(SqlIntervalStoreTest, OtherErrorsAreNotRetried) {
  FlakyStore f = NewFlakyStore();
  ASSERT_NE(f.store, nullptr);
  f.driver->failure = absl::UnavailableError("DB_BUSY: injected");
  f.driver->failures_left = 1;
  auto written = f.store->Put({Rec("acme", 0, 1)}, true);
  EXPECT_EQ(written.status().code(), absl::StatusCode::kUnavailable) << written.status();
  EXPECT_EQ(f.driver->commits.load(), 1);
}

}  // namespace
}  // namespace sb::insights::storage::testing
