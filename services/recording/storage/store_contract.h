// The RecordingStore contract suite's fixture. store_contract_test.cc holds the cases (TEST_P);
// each adapter's test file instantiates them with a StoreHarness that makes fresh databases.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "recording/storage/sql_store.h"
#include "recording/storage/store.h"

namespace sb::recording::storage::testing {

// StoreHarness
//
// Makes databases for one test. Destroyed after the test's stores, so it may drop them.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  // The OpenStore URL of a new, empty database private to the calling test.
  virtual absl::StatusOr<std::string> NewDatabaseUrl() = 0;
};

struct ContractParam {
  std::string name;
  std::function<std::unique_ptr<StoreHarness>()> make_harness;
};

std::string ContractParamName(const ::testing::TestParamInfo<ContractParam>& info);
inline void PrintTo(const ContractParam& param, std::ostream* os) { *os << param.name; }

class StoreContractTest : public ::testing::TestWithParam<ContractParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A second store on the same database (migrations run again).
  absl::StatusOr<std::unique_ptr<RecordingStore>> Reopen();
  // Raw SQL through the adapter's test hook (tampering, fake schema versions).
  absl::Status RawSql(std::string_view sql);

  std::unique_ptr<StoreHarness> harness_;
  std::string url_;
  std::unique_ptr<RecordingStore> store_;
  SqlRecordingStore* sql_ = nullptr;  // store_, as the SQL implementation
};

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// Whether `s` has `code` and its message starts with `reason` followed by ':'.
::testing::AssertionResult HasReason(const absl::Status& s, absl::StatusCode code,
                                     std::string_view reason);

#define SB_CONTRACT_CONCAT_I(a, b) a##b
#define SB_CONTRACT_CONCAT(a, b) SB_CONTRACT_CONCAT_I(a, b)
#define SB_ASSERT_OK(expr)                                               \
  do {                                                                   \
    const auto& sb_r_ = (expr);                                          \
    ASSERT_TRUE(::sb::recording::storage::testing::StatusOf(sb_r_).ok()) \
        << ::sb::recording::storage::testing::StatusOf(sb_r_);           \
  } while (0)
#define SB_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  SB_ASSERT_OK_AND_ASSIGN_I(SB_CONTRACT_CONCAT(sb_aoa_, __LINE__), lhs, expr)
#define SB_ASSERT_OK_AND_ASSIGN_I(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.status();          \
  lhs = std::move(*tmp)

}  // namespace sb::recording::storage::testing
