// The IntervalStore contract: every adapter must pass these cases (instantiated in
// interval_store_sqlite_test.cc and interval_store_pg_test.cc).
#include "insights/storage/interval_store_contract.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "insights/storage/interval_store.h"
#include "recording/storage/migrations.h"
#include "recording/storage/open_store.h"

namespace sb::insights {
// Readable failure output for records.
void PrintTo(const IntervalAggregate& r, std::ostream* os) {
  *os << "{" << r.tenant_id << "/" << r.queue_id << " @" << r.start_ms << "+" << r.length_ms
      << " offered=" << r.offered << " answered=" << r.answered << " handled=" << r.handled
      << " max_wait_ms=" << r.max_wait_ms << " sl_threshold_ms=" << r.sl_threshold_ms << "}";
}
}  // namespace sb::insights

namespace sb::insights::storage::testing {

void IntervalStoreContractTest::SetUp() {
  harness_ = GetParam().make_harness();
  auto url = harness_->NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  url_ = *url;
  auto store = OpenIntervalStore(url_);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
}

void IntervalStoreContractTest::TearDown() {
  store_.reset();
  harness_.reset();
}

absl::StatusOr<std::unique_ptr<IntervalStore>> IntervalStoreContractTest::Reopen() {
  return OpenIntervalStore(url_);
}

absl::StatusOr<recording::storage::SqlResult> IntervalStoreContractTest::RawSql(
    std::string_view sql) {
  auto driver = harness_->OpenDriver(url_);
  if (!driver.ok()) return driver.status();
  auto tx = (*driver)->Begin(recording::storage::TxMode::kReadWrite);
  if (!tx.ok()) return tx.status();
  auto result = (*tx)->Exec(sql, {}, /*cacheable=*/false);
  if (!result.ok()) return result.status();
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return result;
}

::testing::AssertionResult HasReason(const absl::Status& s, absl::StatusCode code,
                                     std::string_view reason) {
  const std::string message(s.message());
  if (s.code() == code && message.starts_with(std::string(reason) + ":")) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected " << absl::StatusCodeToString(code) << ": " << reason << ", got " << s;
}

namespace {

using Records = std::vector<IntervalAggregate>;

constexpr int64_t kDay = 24 * 3600 * 1000;
constexpr int64_t kT0 = 20000 * kDay;  // 2024-10-04, a multiple of the interval

// A record whose every field differs and depends on `salt`, so a mixed-up column shows.
IntervalAggregate Rec(std::string tenant, std::string queue, int64_t start_ms, int64_t salt = 1,
                      int64_t length_ms = kIntervalMs) {
  IntervalAggregate r;
  r.tenant_id = std::move(tenant);
  r.queue_id = std::move(queue);
  r.start_ms = start_ms;
  r.length_ms = length_ms;
  int64_t v = salt * 100;
  for (int64_t* f : {&r.offered, &r.answered, &r.answered_within_sl, &r.abandoned,
                     &r.abandoned_after_sl, &r.short_abandoned, &r.left_unanswered,
                     &r.wait_answered_ms, &r.wait_abandoned_ms, &r.wait_unanswered_ms,
                     &r.max_wait_ms, &r.handled, &r.talk_ms, &r.wrap_ms, &r.sl_threshold_ms}) {
    *f = ++v;
  }
  return r;
}

using Key = std::tuple<std::string, std::string, int64_t, int64_t>;
Key KeyOf(const IntervalAggregate& r) { return {r.tenant_id, r.queue_id, r.start_ms, r.length_ms}; }

// The reference model: what the store must hold.
class Model {
 public:
  int64_t Put(const Records& records, bool replace) {
    int64_t written = 0;
    for (const IntervalAggregate& r : records) {
      auto [it, inserted] = rows_.try_emplace(KeyOf(r), r);
      if (inserted) {
        ++written;
      } else if (replace) {
        it->second = r;
        ++written;
      }
    }
    return written;
  }
  Records Range(const std::string& tenant, const std::string& queue, int64_t from,
                int64_t to) const {
    Records out;
    for (const auto& [key, r] : rows_) {
      if (r.tenant_id == tenant && (queue.empty() || r.queue_id == queue) && r.start_ms >= from &&
          r.start_ms < to) {
        out.push_back(r);
      }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.start_ms, a.queue_id, a.length_ms) <
             std::tie(b.start_ms, b.queue_id, b.length_ms);
    });
    return out;
  }
  std::vector<std::string> Tenants() const {
    std::set<std::string> s;
    for (const auto& [key, r] : rows_) s.insert(r.tenant_id);
    return {s.begin(), s.end()};
  }
  int64_t DeleteBefore(int64_t before) {
    int64_t n = 0;
    for (auto it = rows_.begin(); it != rows_.end();) {
      if (it->second.start_ms < before) {
        it = rows_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

 private:
  std::map<Key, IntervalAggregate> rows_;
};

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST_P(IntervalStoreContractTest, EmptyStore) {
  SBI_ASSERT_OK_AND_ASSIGN(auto tenants, store_->Tenants());
  EXPECT_TRUE(tenants.empty());
  SBI_ASSERT_OK_AND_ASSIGN(auto rows, store_->Range("acme", "", kMin, kMax));
  EXPECT_TRUE(rows.empty());
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put({}, true));
  EXPECT_EQ(written, 0);
  SBI_ASSERT_OK_AND_ASSIGN(int64_t deleted, store_->DeleteBefore(kMax));
  EXPECT_EQ(deleted, 0);
}

TEST_P(IntervalStoreContractTest, PutThenRangeReturnsEveryField) {
  const Records in = {Rec("acme", "sales", kT0, 1), Rec("acme", "support", kT0, 2),
                      Rec("acme", "sales", kT0 + kIntervalMs, 3)};
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put(in, /*replace=*/true));
  EXPECT_EQ(written, 3);
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "", kT0, kT0 + kDay));
  EXPECT_EQ(out, in);  // already in (start, queue) order
}

TEST_P(IntervalStoreContractTest, ReplaceOverwritesAnExistingRow) {
  SBI_ASSERT_OK(store_->Put({Rec("acme", "sales", kT0, 1)}, /*replace=*/true));
  const IntervalAggregate newer = Rec("acme", "sales", kT0, 7);
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put({newer}, /*replace=*/true));
  EXPECT_EQ(written, 1);
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "sales", kT0, kT0 + 1));
  EXPECT_EQ(out, Records{newer});
  // Replacing with the same record again is idempotent (every replica writes it).
  SBI_ASSERT_OK(store_->Put({newer}, /*replace=*/true));
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "sales", kT0, kT0 + 1));
  EXPECT_EQ(out, Records{newer});
}

TEST_P(IntervalStoreContractTest, KeepLeavesAnExistingRowAndInsertsAbsentOnes) {
  const IntervalAggregate complete = Rec("acme", "sales", kT0, 5);
  SBI_ASSERT_OK(store_->Put({complete}, /*replace=*/true));
  const IntervalAggregate partial = Rec("acme", "sales", kT0, 2);
  const IntervalAggregate fresh = Rec("acme", "sales", kT0 + kIntervalMs, 3);
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put({partial, fresh}, /*replace=*/false));
  EXPECT_EQ(written, 1);  // only `fresh`
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "sales", kT0, kT0 + kDay));
  EXPECT_EQ(out, (Records{complete, fresh}));
}

TEST_P(IntervalStoreContractTest, SameKeyTwiceInOneCallAppliesInOrder) {
  const IntervalAggregate a = Rec("acme", "sales", kT0, 1);
  const IntervalAggregate b = Rec("acme", "sales", kT0, 2);
  SBI_ASSERT_OK(store_->Put({a, b}, /*replace=*/true));
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "sales", kT0, kT0 + 1));
  EXPECT_EQ(out, Records{b});  // the last wins

  const IntervalAggregate c = Rec("acme", "sales", kT0 + kIntervalMs, 3);
  const IntervalAggregate d = Rec("acme", "sales", kT0 + kIntervalMs, 4);
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put({c, d}, /*replace=*/false));
  EXPECT_EQ(written, 1);
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "sales", kT0 + kIntervalMs, kT0 + kDay));
  EXPECT_EQ(out, Records{c});  // the first wins
}

TEST_P(IntervalStoreContractTest, LengthIsPartOfTheKey) {
  const IntervalAggregate quarter = Rec("acme", "sales", kT0, 1, kIntervalMs);
  const IntervalAggregate hour = Rec("acme", "sales", kT0, 2, 4 * kIntervalMs);
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put({hour, quarter}, /*replace=*/false));
  EXPECT_EQ(written, 2);
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "sales", kT0, kT0 + 1));
  EXPECT_EQ(out, (Records{quarter, hour}));
}

TEST_P(IntervalStoreContractTest, RangeFiltersByTenantQueueAndHalfOpenTime) {
  Records in;
  for (const char* tenant : {"acme", "globex"}) {
    for (const char* queue : {"sales", "support"}) {
      for (int i = 0; i < 4; ++i) in.push_back(Rec(tenant, queue, kT0 + i * kIntervalMs, i + 1));
    }
  }
  SBI_ASSERT_OK(store_->Put(in, /*replace=*/true));

  // [start of interval 1, start of interval 3): intervals 1 and 2 only.
  SBI_ASSERT_OK_AND_ASSIGN(auto out,
                           store_->Range("acme", "", kT0 + kIntervalMs, kT0 + 3 * kIntervalMs));
  const Records want = {Rec("acme", "sales", kT0 + kIntervalMs, 2),
                        Rec("acme", "support", kT0 + kIntervalMs, 2),
                        Rec("acme", "sales", kT0 + 2 * kIntervalMs, 3),
                        Rec("acme", "support", kT0 + 2 * kIntervalMs, 3)};
  EXPECT_EQ(out, want);

  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("globex", "support", kT0, kT0 + kDay));
  Records want_queue;
  for (int i = 0; i < 4; ++i)
    want_queue.push_back(Rec("globex", "support", kT0 + i * kIntervalMs, i + 1));
  EXPECT_EQ(out, want_queue);

  // Just inside and just outside the bounds.
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "sales", kT0 + 1, kT0 + kIntervalMs + 1));
  EXPECT_EQ(out, Records{Rec("acme", "sales", kT0 + kIntervalMs, 2)});
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "sales", kT0, kT0));
  EXPECT_TRUE(out.empty());
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "sales", kT0 + kDay, kT0));
  EXPECT_TRUE(out.empty());
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "billing", kMin, kMax));
  EXPECT_TRUE(out.empty());
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("initech", "", kMin, kMax));
  EXPECT_TRUE(out.empty());
}

TEST_P(IntervalStoreContractTest, RangeOrdersByStartThenQueueBytewise) {
  // Queue ids chosen so that a locale-aware collation would order them differently from bytes.
  const std::vector<std::string> queues = {"b", "B", "a", "\xC3\xA9t\xC3\xA9", "Z", "a-1", "a1"};
  Records in;
  int64_t salt = 1;
  for (int i = 2; i >= 0; --i) {
    for (const std::string& q : queues) in.push_back(Rec("acme", q, kT0 + i * kIntervalMs, salt++));
  }
  SBI_ASSERT_OK(store_->Put(in, /*replace=*/true));
  Records want = in;
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) {
    return std::tie(a.start_ms, a.queue_id) < std::tie(b.start_ms, b.queue_id);
  });
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "", kMin, kMax));
  EXPECT_EQ(out, want);
}

TEST_P(IntervalStoreContractTest, ExtremeValuesRoundTrip) {
  IntervalAggregate r = Rec("acme", "sales", -3 * kIntervalMs, 1);
  r.offered = kMax;
  r.answered = kMin;
  r.talk_ms = -1;
  r.sl_threshold_ms = 0;
  IntervalAggregate far = Rec("acme", "sales", kMax - kMax % kIntervalMs, 2);
  SBI_ASSERT_OK(store_->Put({r, far}, /*replace=*/true));
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "sales", kMin, kMax));
  EXPECT_EQ(out, (Records{r, far}));
}

TEST_P(IntervalStoreContractTest, TenantsAreDistinctAndSorted) {
  SBI_ASSERT_OK(store_->Put({Rec("globex", "q", kT0), Rec("acme", "q", kT0),
                             Rec("acme", "r", kT0 + kIntervalMs), Rec("Zeta", "q", kT0),
                             Rec("\xC3\xBC"
                                 "ber",
                                 "q", kT0)},
                            /*replace=*/true));
  SBI_ASSERT_OK_AND_ASSIGN(auto tenants, store_->Tenants());
  EXPECT_EQ(tenants, (std::vector<std::string>{"Zeta", "acme", "globex",
                                               "\xC3\xBC"
                                               "ber"}));
}

TEST_P(IntervalStoreContractTest, DeleteBeforeRemovesOlderRowsOfEveryTenant) {
  Records in;
  for (const char* tenant : {"acme", "globex"}) {
    for (int i = 0; i < 5; ++i) in.push_back(Rec(tenant, "q", kT0 + i * kIntervalMs, i + 1));
  }
  in.push_back(Rec("old", "q", kT0 - kDay));
  SBI_ASSERT_OK(store_->Put(in, /*replace=*/true));
  SBI_ASSERT_OK_AND_ASSIGN(int64_t deleted, store_->DeleteBefore(kT0 + 2 * kIntervalMs));
  EXPECT_EQ(deleted, 5);  // intervals 0 and 1 of two tenants, and "old"
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "", kMin, kMax));
  EXPECT_EQ(out, (Records{Rec("acme", "q", kT0 + 2 * kIntervalMs, 3),
                          Rec("acme", "q", kT0 + 3 * kIntervalMs, 4),
                          Rec("acme", "q", kT0 + 4 * kIntervalMs, 5)}));
  SBI_ASSERT_OK_AND_ASSIGN(auto tenants, store_->Tenants());
  EXPECT_EQ(tenants, (std::vector<std::string>{"acme", "globex"}));
  SBI_ASSERT_OK_AND_ASSIGN(deleted, store_->DeleteBefore(kT0 + 2 * kIntervalMs));
  EXPECT_EQ(deleted, 0);
}

TEST_P(IntervalStoreContractTest, HistorySurvivesReopen) {
  const Records in = {Rec("acme", "sales", kT0, 1), Rec("globex", "support", kT0, 2)};
  SBI_ASSERT_OK(store_->Put(in, /*replace=*/true));
  store_.reset();  // the process "restarts"
  SBI_ASSERT_OK_AND_ASSIGN(store_, Reopen());
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "", kMin, kMax));
  EXPECT_EQ(out, Records{in[0]});
  SBI_ASSERT_OK_AND_ASSIGN(auto tenants, store_->Tenants());
  EXPECT_EQ(tenants, (std::vector<std::string>{"acme", "globex"}));
  // A second store alongside the first sees the same rows (and re-running migrations is a no-op).
  SBI_ASSERT_OK_AND_ASSIGN(auto second, Reopen());
  SBI_ASSERT_OK(second->Put({Rec("acme", "sales", kT0 + kIntervalMs, 3)}, /*replace=*/false));
  SBI_ASSERT_OK_AND_ASSIGN(out, store_->Range("acme", "sales", kMin, kMax));
  EXPECT_EQ(out, (Records{in[0], Rec("acme", "sales", kT0 + kIntervalMs, 3)}));
}

TEST_P(IntervalStoreContractTest, MigrationsAreRecordedOnceEach) {
  SBI_ASSERT_OK_AND_ASSIGN(auto again, Reopen());
  SBI_ASSERT_OK_AND_ASSIGN(auto rows, RawSql("SELECT version FROM insights_schema_version "
                                             "ORDER BY version"));
  ASSERT_EQ(rows.rows.size(), static_cast<size_t>(LatestIntervalSchemaVersion()));
  for (size_t i = 0; i < rows.rows.size(); ++i) {
    const auto& v = rows.rows[i].at(0);
    const int64_t version = std::holds_alternative<int64_t>(v)
                                ? std::get<int64_t>(v)
                                : std::stoll(std::get<std::string>(v));
    EXPECT_EQ(version, static_cast<int64_t>(i + 1));
  }
}

TEST_P(IntervalStoreContractTest, NewerSchemaIsRefused) {
  SBI_ASSERT_OK(RawSql("INSERT INTO insights_schema_version (version, name) VALUES (" +
                       std::to_string(LatestIntervalSchemaVersion() + 1) + ", 'from the future')"));
  store_.reset();
  EXPECT_TRUE(
      HasReason(StatusOf(Reopen()), absl::StatusCode::kFailedPrecondition, "SCHEMA_TOO_NEW"));
}

TEST_P(IntervalStoreContractTest, SharesADatabaseWithTheRecordingStore) {
  SBI_ASSERT_OK(store_->Put({Rec("acme", "sales", kT0)}, /*replace=*/true));
  SBI_ASSERT_OK_AND_ASSIGN(auto recording, recording::storage::OpenStore(url_));
  SBI_ASSERT_OK_AND_ASSIGN(auto again, Reopen());  // each keeps its own version table
  SBI_ASSERT_OK_AND_ASSIGN(auto rows, RawSql("SELECT MAX(version) FROM schema_migrations"));
  ASSERT_EQ(rows.rows.size(), 1u);
  const auto& v = rows.rows[0].at(0);
  const int64_t version = std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v)
                                                             : std::stoll(std::get<std::string>(v));
  EXPECT_EQ(version, recording::storage::LatestSchemaVersion());
  SBI_ASSERT_OK_AND_ASSIGN(auto out, again->Range("acme", "", kMin, kMax));
  EXPECT_EQ(out, Records{Rec("acme", "sales", kT0)});
}

TEST_P(IntervalStoreContractTest, TextThatIsNotUtf8IsRefusedAndNothingIsWritten) {
  for (const std::string& bad : {std::string("\xFF\xFE"), std::string("ac\0me", 5),
                                 std::string("\xC0\xAF"), std::string("\xE2\x82")}) {
    SCOPED_TRACE(::testing::PrintToString(bad));
    const Records in = {Rec("acme", "sales", kT0), Rec("acme", bad, kT0)};
    EXPECT_TRUE(HasReason(StatusOf(store_->Put(in, /*replace=*/true)),
                          absl::StatusCode::kInvalidArgument, "INVALID_TEXT"));
    const Records bad_tenant = {Rec(bad, "sales", kT0)};
    EXPECT_TRUE(HasReason(StatusOf(store_->Put(bad_tenant, /*replace=*/false)),
                          absl::StatusCode::kInvalidArgument, "INVALID_TEXT"));
    EXPECT_TRUE(HasReason(StatusOf(store_->Range(bad, "", kMin, kMax)),
                          absl::StatusCode::kInvalidArgument, "INVALID_TEXT"));
    EXPECT_TRUE(HasReason(StatusOf(store_->Range("acme", bad, kMin, kMax)),
                          absl::StatusCode::kInvalidArgument, "INVALID_TEXT"));
  }
  // All or nothing: the valid record of the refused batch was not written.
  SBI_ASSERT_OK_AND_ASSIGN(auto tenants, store_->Tenants());
  EXPECT_TRUE(tenants.empty());
  // The store still works afterwards.
  SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put({Rec("acme", "sales", kT0)}, true));
  EXPECT_EQ(written, 1);
}

TEST_P(IntervalStoreContractTest, InvalidRecordsAreRefusedAndNothingIsWritten) {
  IntervalAggregate no_length = Rec("acme", "sales", kT0);
  no_length.length_ms = 0;
  for (const IntervalAggregate& bad : {Rec("", "sales", kT0), Rec("acme", "", kT0), no_length}) {
    EXPECT_TRUE(HasReason(StatusOf(store_->Put({Rec("acme", "ok", kT0), bad}, true)),
                          absl::StatusCode::kInvalidArgument, "INVALID_RECORD"));
  }
  SBI_ASSERT_OK_AND_ASSIGN(auto tenants, store_->Tenants());
  EXPECT_TRUE(tenants.empty());
}

// Several writers at once (replicas sharing PostgreSQL; threads of one process on SQLite): every
// call succeeds and they converge on the same rows.
TEST_P(IntervalStoreContractTest, ConcurrentWritersConverge) {
  Records in;
  for (int q = 0; q < 4; ++q) {
    for (int i = 0; i < 10; ++i) {
      in.push_back(Rec("acme", "q" + std::to_string(q), kT0 + i * kIntervalMs, q * 10 + i + 1));
    }
  }
  constexpr int kThreads = 4;
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      Records mine = in;
      std::shuffle(mine.begin(), mine.end(), rng);
      for (size_t begin = 0; begin < mine.size() && results[t].ok(); begin += 8) {
        const Records batch(mine.begin() + begin, mine.begin() + std::min(mine.size(), begin + 8));
        results[t] = StatusOf(store_->Put(batch, /*replace=*/t % 2 == 0));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  std::sort(in.begin(), in.end(), [](const auto& a, const auto& b) {
    return std::tie(a.start_ms, a.queue_id) < std::tie(b.start_ms, b.queue_id);
  });
  SBI_ASSERT_OK_AND_ASSIGN(auto out, store_->Range("acme", "", kMin, kMax));
  EXPECT_EQ(out, in);
}

// Random batches of puts (replace or keep, with repeated keys), deletions and queries, checked
// against an in-memory model. SB_TEST_SEED=<n> replays a run.
TEST_P(IntervalStoreContractTest, RandomizedRoundTripMatchesModel) {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("SB_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::cout << "RandomizedRoundTripMatchesModel seed: " << seed
            << " (replay with SB_TEST_SEED=" << seed << ")\n";
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const std::vector<std::string> tenants = {"acme", "globex", "\xC3\x9Cml\xC3\xA4ut", "t-3"};
  const std::vector<std::string> queues = {"a", "B", "q/1", "\xC3\xA9", "z", "a b"};
  auto random_value = [&]() -> int64_t {
    switch (uniform(0, 9)) {
      case 0:
        return kMax;
      case 1:
        return kMin;
      case 2:
        return 0;
      default:
        return uniform(-1000, 10'000'000);
    }
  };
  auto random_record = [&] {
    IntervalAggregate r;
    r.tenant_id = tenants[uniform(0, tenants.size() - 1)];
    r.queue_id = queues[uniform(0, queues.size() - 1)];
    r.length_ms = uniform(0, 5) == 0 ? 2 * kIntervalMs : kIntervalMs;
    r.start_ms = kT0 + uniform(-8, 40) * kIntervalMs;
    for (int64_t* f : {&r.offered, &r.answered, &r.answered_within_sl, &r.abandoned,
                       &r.abandoned_after_sl, &r.short_abandoned, &r.left_unanswered,
                       &r.wait_answered_ms, &r.wait_abandoned_ms, &r.wait_unanswered_ms,
                       &r.max_wait_ms, &r.handled, &r.talk_ms, &r.wrap_ms, &r.sl_threshold_ms}) {
      *f = random_value();
    }
    return r;
  };
  auto random_time = [&] { return kT0 + uniform(-10, 42) * kIntervalMs + uniform(-1, 1); };

  Model model;
  for (int step = 0; step < 120; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int64_t op = uniform(0, 9);
    if (op < 6) {
      Records batch;
      const int64_t n = uniform(1, 25);
      for (int64_t i = 0; i < n; ++i) batch.push_back(random_record());
      const bool replace = uniform(0, 1) == 1;
      SBI_ASSERT_OK_AND_ASSIGN(int64_t written, store_->Put(batch, replace));
      ASSERT_EQ(written, model.Put(batch, replace));
    } else if (op == 6) {
      const int64_t before = random_time();
      SBI_ASSERT_OK_AND_ASSIGN(int64_t deleted, store_->DeleteBefore(before));
      ASSERT_EQ(deleted, model.DeleteBefore(before));
    } else if (op == 7) {
      SBI_ASSERT_OK_AND_ASSIGN(auto got, store_->Tenants());
      ASSERT_EQ(got, model.Tenants());
    } else {
      const std::string& tenant = tenants[uniform(0, tenants.size() - 1)];
      const std::string queue = uniform(0, 1) == 0 ? "" : queues[uniform(0, queues.size() - 1)];
      int64_t from = random_time();
      int64_t to = random_time();
      if (from > to && uniform(0, 3) != 0) std::swap(from, to);
      SBI_ASSERT_OK_AND_ASSIGN(auto got, store_->Range(tenant, queue, from, to));
      ASSERT_EQ(got, model.Range(tenant, queue, from, to));
    }
  }
  // Everything, at the end, and again after a reopen.
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& tenant : tenants) {
      SBI_ASSERT_OK_AND_ASSIGN(auto got, store_->Range(tenant, "", kMin, kMax));
      ASSERT_EQ(got, model.Range(tenant, "", kMin, kMax));
    }
    SBI_ASSERT_OK_AND_ASSIGN(auto got, store_->Tenants());
    ASSERT_EQ(got, model.Tenants());
    store_.reset();
    SBI_ASSERT_OK_AND_ASSIGN(store_, Reopen());
  }
}

}  // namespace
}  // namespace sb::insights::storage::testing
