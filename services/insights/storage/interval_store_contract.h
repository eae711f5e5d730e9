// The IntervalStore contract suite's fixture. interval_store_contract_test.cc holds the cases
// (TEST_P); each adapter's test file instantiates them with a harness that makes fresh databases
// (SQLite files in a temporary directory; databases on a private PostgreSQL server).
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "insights/storage/interval_store.h"
#include "recording/storage/sql_driver.h"

namespace sb::insights::storage::testing {

// IntervalStoreHarness
//
// Makes databases for one test; destroyed after the test's stores, so it may drop them.
class IntervalStoreHarness {
 public:
  virtual ~IntervalStoreHarness() = default;
  // The OpenIntervalStore URL of a new, empty database private to the calling test. Reopening the
  // URL reaches the same database.
  virtual absl::StatusOr<std::string> NewDatabaseUrl() = 0;
  // A raw driver on the database of `url` (schema checks, tampering).
  virtual absl::StatusOr<std::shared_ptr<recording::storage::SqlDriver>> OpenDriver(
      const std::string& url) = 0;
};

struct IntervalContractParam {
  std::string name;
  std::function<std::unique_ptr<IntervalStoreHarness>()> make_harness;
};

inline std::string IntervalContractParamName(
    const ::testing::TestParamInfo<IntervalContractParam>& info) {
  return info.param.name;
}
inline void PrintTo(const IntervalContractParam& param, std::ostream* os) { *os << param.name; }

class IntervalStoreContractTest : public ::testing::TestWithParam<IntervalContractParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Another store on the same database (the migrations run again).
  absl::StatusOr<std::unique_ptr<IntervalStore>> Reopen();
  // Runs `sql` through a raw driver on the test's database and returns the rows.
  absl::StatusOr<recording::storage::SqlResult> RawSql(std::string_view sql);

  std::unique_ptr<IntervalStoreHarness> harness_;
  std::string url_;
  std::unique_ptr<IntervalStore> store_;
};

// Whether `s` has `code` and its message starts with `reason` followed by ':'.
::testing::AssertionResult HasReason(const absl::Status& s, absl::StatusCode code,
                                     std::string_view reason);

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

#define SBI_CONCAT_I(a, b) a##b
#define SBI_CONCAT(a, b) SBI_CONCAT_I(a, b)
#define SBI_ASSERT_OK(expr)                                              \
  do {                                                                   \
    const auto& sbi_r_ = (expr);                                         \
    ASSERT_TRUE(::sb::insights::storage::testing::StatusOf(sbi_r_).ok()) \
        << ::sb::insights::storage::testing::StatusOf(sbi_r_);           \
  } while (0)
#define SBI_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  SBI_ASSERT_OK_AND_ASSIGN_I(SBI_CONCAT(sbi_aoa_, __LINE__), lhs, expr)
#define SBI_ASSERT_OK_AND_ASSIGN_I(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.status();           \
  lhs = std::move(*tmp)

}  // namespace sb::insights::storage::testing
