#include "recording/core/qa_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/defaults.h"
#include "recording/core/qa_test_util.h"

namespace sb::recording::qa {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

constexpr char kConfig[] = R"(defaults:
  form: default
  low_csat_threshold: 2
  feedback:
    short_wait: 15s
    default_queue_target: 1m
    waiting_keywords: [wait, hold music]
    review_causes: [agent]
  sampling: {per_agent_per_week: 3, seed: 99}
  coaching: {target: 75, window: 4, max_age_days: 20}
  calibration: {disagreement_threshold: 0.3}
  retention_days: 400
tenants:
  acme:
    low_csat_threshold: 1
    coaching: {target: 85}
    sampling: {rate: 0.1, max_per_agent_per_week: 4}
    queues:
      billing:
        sampling: {per_agent_per_week: 5, seed: 7}
        retention_days: 730
        queue_target: 20s
        form: billing-form
      sales:
        retention_days: 90
  globex:
)";

absl::Status Error(const std::string& text) {
  auto c = ParseQaConfig(text, "qa.yaml");
  return c.ok() ? absl::OkStatus() : c.status();
}

TEST(QaConfigTest, DefaultsTenantsAndQueuesMerge) {
  auto c = ParseQaConfig(kConfig, "qa.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->Tenants(), ElementsAre("acme", "globex"));
  EXPECT_EQ(c->content_hash().size(), 16u);

  const QaSettings& d = c->defaults();
  EXPECT_EQ(d.feedback.low_csat_threshold, 2);
  EXPECT_EQ(d.feedback.short_wait_ms, 15000);
  EXPECT_EQ(d.feedback.default_queue_target_ms, 60000);
  EXPECT_THAT(d.feedback.waiting_keywords, ElementsAre("wait", "hold music"));
  EXPECT_THAT(d.feedback.review_causes, ElementsAre(FeedbackCause::kAgent));
  EXPECT_EQ(d.sampling.mode, SamplePolicy::Mode::kCount);
  EXPECT_EQ(d.sampling.per_agent_per_week, 3);
  EXPECT_EQ(d.sampling.seed, 99u);
  EXPECT_EQ(d.coaching.target, 75);
  EXPECT_EQ(d.coaching.window, 4);
  EXPECT_EQ(d.coaching.max_age_days, 20);
  EXPECT_EQ(d.calibration.disagreement_threshold, 0.3);
  EXPECT_EQ(d.retention_days, 400);

  // A tenant without a block, and one with an empty block: the defaults.
  EXPECT_EQ(&c->For("initech"), &c->defaults());
  EXPECT_EQ(c->For("globex").retention_days, 400);

  const QaSettings& acme = c->For("acme");
  EXPECT_EQ(acme.feedback.low_csat_threshold, 1);
  EXPECT_EQ(acme.feedback.short_wait_ms, 15000);  // inherited
  EXPECT_EQ(acme.coaching.target, 85);
  EXPECT_EQ(acme.coaching.window, 4);  // merged key by key
  EXPECT_EQ(acme.sampling.mode, SamplePolicy::Mode::kRate);
  EXPECT_EQ(acme.sampling.rate, 0.1);
  EXPECT_EQ(acme.sampling.max_per_agent_per_week, 4);
  EXPECT_EQ(acme.sampling.seed, 99u);  // the seed is inherited
  EXPECT_EQ(acme.sampling.scope, "");
  EXPECT_EQ(acme.retention_days, 400);

  const QaSettings& billing = c->For("acme", "billing");
  EXPECT_EQ(billing.sampling.mode, SamplePolicy::Mode::kCount);
  EXPECT_EQ(billing.sampling.per_agent_per_week, 5);
  EXPECT_EQ(billing.sampling.seed, 7u);
  EXPECT_EQ(billing.sampling.scope, "billing");
  EXPECT_EQ(billing.retention_days, 730);
  EXPECT_EQ(billing.feedback.default_queue_target_ms, 20000);
  EXPECT_EQ(billing.feedback.low_csat_threshold, 1);  // the tenant's
  EXPECT_EQ(billing.form_id, "billing-form");

  const QaSettings& sales = c->For("acme", "sales");
  EXPECT_EQ(sales.retention_days, 90);
  EXPECT_EQ(sales.sampling.mode, SamplePolicy::Mode::kRate);  // the tenant's, shared scope
  EXPECT_EQ(sales.sampling.scope, "");
  EXPECT_EQ(&c->For("acme", "unknown"), &c->For("acme"));
  EXPECT_EQ(c->SamplingFor("acme", "billing").scope, "billing");
}

TEST(QaConfigTest, EmptyAndBuiltInDefaults) {
  auto empty = ParseQaConfig("", "qa.yaml");
  ASSERT_TRUE(empty.ok()) << empty.status();
  const QaSettings built_in;
  EXPECT_EQ(empty->defaults().retention_days, built_in.retention_days);
  EXPECT_EQ(empty->defaults().sampling.per_agent_per_week, 2);
  EXPECT_EQ(QaConfig().For("x").form_id, "default");
}

TEST(QaConfigTest, Errors) {
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {"defaults:\n  low_csat_threshold: 5\n",
       "qa.yaml:2: defaults.low_csat_threshold: 5 is out of range (0..4)"},
      {"defaults:\n  sampling: {rate: 1.5}\n", "qa.yaml:2: defaults.sampling.rate: 1.5 is out of"},
      {"defaults:\n  sampling: {rate: 0.1, per_agent_per_week: 2}\n",
       "qa.yaml:2: defaults.sampling: set per_agent_per_week (a fixed count) or rate"},
      {"defaults:\n  sampling: {seed: 3}\n",
       "qa.yaml:2: defaults.sampling: set per_agent_per_week (e.g. 2) or rate"},
      {"defaults:\n  sampling: {per_agent_per_week: 2, max_per_agent_per_week: 3}\n",
       "qa.yaml:2: defaults.sampling.max_per_agent_per_week: applies to rate sampling only"},
      {"defaults:\n  sampling: {per_agent_per_week: 2, seed: -1}\n",
       "qa.yaml:2: defaults.sampling.seed: -1 is out of range"},
      {"defaults:\n  coaching: {window: 0}\n", "qa.yaml:2: defaults.coaching.window: 0 is out"},
      {"defaults:\n  coaching: {target: 120}\n", "qa.yaml:2: defaults.coaching.target: 120 is"},
      {"defaults:\n  coaching: {targt: 80}\n",
       "qa.yaml:2: defaults.coaching.targt: unknown key 'targt'; did you mean 'target'?"},
      {"defaults:\n  calibration: {disagreement_threshold: 2}\n",
       "qa.yaml:2: defaults.calibration.disagreement_threshold: 2 is out of range"},
      {"defaults:\n  feedback:\n    short_wait: soon\n",
       "qa.yaml:3: defaults.feedback.short_wait:"},
      {"defaults:\n  feedback:\n    review_causes: [agent, weather]\n",
       "qa.yaml:3: defaults.feedback.review_causes[1]: unknown value 'weather'"},
      {"defaults:\n  feedback:\n    review_causes: agent\n",
       "qa.yaml:3: defaults.feedback.review_causes: expected a list"},
      {"defaults:\n  feedback:\n    waiting_keywords: ['']\n",
       "qa.yaml:3: defaults.feedback.waiting_keywords[0]: must not be empty"},
      {"defaults:\n  retention_days: -1\n", "qa.yaml:2: defaults.retention_days: -1 is out"},
      {"defaults:\n  form: 'my form'\n", "qa.yaml:2: defaults.form: 'my form' is not a form id"},
      {"defaults:\n  queues: {}\n", "qa.yaml:2: defaults.queues: unknown key 'queues'"},
      {"tenant:\n  acme: {}\n", "qa.yaml:1: tenant: unknown key 'tenant'; did you mean 'tenants'?"},
      {"tenants:\n  acme:\n    queues:\n      billing:\n        coaching: {target: 1}\n",
       "qa.yaml:5: tenants.acme.queues.billing.coaching: unknown key 'coaching'"},
      {"tenants:\n  acme:\n    queues:\n      billing:\n        queue_target: fast\n",
       "qa.yaml:5: tenants.acme.queues.billing.queue_target:"},
      {"tenants:\n  acme:\n    retention_days: 1\n    retention_days: 2\n", "qa.yaml:"},
      {"tenants:\n  'a b': {}\n", "qa.yaml:2: tenants.a b: a tenant id is letters"},
      {"tenants: [acme]\n", "qa.yaml:1: tenants: expected a map, found a list"},
      {"defaults: [\n", "qa.yaml:"},
  };
  for (const Case& c : cases) {
    absl::Status s = Error(c.text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(s.message()), StartsWith("INVALID_QA_CONFIG: " + c.want)) << c.text;
  }
}

TEST(DefaultQaConfigTest, ShippedFileLoadsWithTheDocumentedValues) {
  auto c = ParseQaConfig(testing::ReadFile(SB_QA_CONFIG_PATH), SB_QA_CONFIG_PATH);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->content_hash(), DefaultQaConfig().content_hash());
  const QaSettings& d = c->defaults();
  const QaSettings built_in;  // the struct defaults match the shipped file
  EXPECT_EQ(d.form_id, built_in.form_id);
  EXPECT_EQ(d.feedback.low_csat_threshold, built_in.feedback.low_csat_threshold);
  EXPECT_EQ(d.feedback.short_wait_ms, built_in.feedback.short_wait_ms);
  EXPECT_EQ(d.feedback.default_queue_target_ms, built_in.feedback.default_queue_target_ms);
  EXPECT_EQ(d.feedback.waiting_keywords, built_in.feedback.waiting_keywords);
  EXPECT_EQ(d.feedback.review_causes, built_in.feedback.review_causes);
  EXPECT_EQ(d.sampling.mode, built_in.sampling.mode);
  EXPECT_EQ(d.sampling.per_agent_per_week, built_in.sampling.per_agent_per_week);
  EXPECT_EQ(d.coaching.target, built_in.coaching.target);
  EXPECT_EQ(d.coaching.window, built_in.coaching.window);
  EXPECT_EQ(d.coaching.max_age_days, built_in.coaching.max_age_days);
  EXPECT_EQ(d.calibration.disagreement_threshold, built_in.calibration.disagreement_threshold);
  EXPECT_EQ(d.retention_days, built_in.retention_days);
  EXPECT_TRUE(c->Tenants().empty());
}

}  // namespace
}  // namespace sb::recording::qa
