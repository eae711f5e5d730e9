#include "recording/storage/store_contract.h"

#include "recording/storage/open_store.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {

std::string ContractParamName(const ::testing::TestParamInfo<ContractParam>& info) {
  return info.param.name;
}

void StoreContractTest::SetUp() {
  harness_ = GetParam().make_harness();
  ASSERT_NE(harness_, nullptr);
  auto url = harness_->NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  url_ = *url;
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
  sql_ = dynamic_cast<SqlRecordingStore*>(store_.get());
  ASSERT_NE(sql_, nullptr);
}

void StoreContractTest::TearDown() {
  store_.reset();
  harness_.reset();
}

absl::StatusOr<std::unique_ptr<RecordingStore>> StoreContractTest::Reopen() {
  return OpenStore(url_);
}

absl::Status StoreContractTest::RawSql(std::string_view sql) {
  return sql_->ExecRawSqlForTesting(sql);
}

::testing::AssertionResult HasReason(const absl::Status& s, absl::StatusCode code,
                                     std::string_view reason) {
  if (s.code() != code || !Sv(s.message()).starts_with(Cat(reason, ":"))) {
    return ::testing::AssertionFailure() << "expected " << absl::StatusCodeToString(code)
                                         << " with reason " << reason << ", got " << s;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sb::recording::storage::testing
