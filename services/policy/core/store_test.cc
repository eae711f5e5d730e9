#include "policy/core/store.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sb::policy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Good(const std::string& tenant, const std::string& version) {
  return "tenant: \"" + tenant + "\"\nversion: " + version +
         "\npolicies:\n  wellbeing:\n    rules:\n      - {id: w, outcome: allow, reason: ok}\n";
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("sb-policy-store-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::trunc) << text;
  }
  fs::path dir_;
};

TEST_F(StoreTest, WithoutADirectoryTheBuiltInDefaultServesEveryTenant) {
  BundleStore store("");
  const Bundle* b = store.Current()->ForTenant("anyone");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->name, "default");
}

TEST_F(StoreTest, LoadsBundlesPerTenantAndSkipsTestsAndHiddenFiles) {
  Write("acme.yaml", Good("acme", "a1"));
  Write("acme.tests.yaml", "tests: []\n");
  Write(".hidden.yaml", "not: a bundle: at all");
  Write("notes.txt", "ignored");
  BundleStore store(dir_.string());
  auto report = store.Reload();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->loaded.size(), 1u);
  EXPECT_TRUE(report->rejected.empty());
  EXPECT_EQ(store.Current()->ForTenant("acme")->name, "acme");
  EXPECT_EQ(store.Current()->ForTenant("other")->name, "default");
  // Nothing changed: nothing reloaded.
  report = store.Reload();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->changed());
}

TEST_F(StoreTest, ABadNewVersionIsRejectedAndTheLastGoodOneStays) {
  Write("acme.yaml", Good("acme", "a1"));
  BundleStore store(dir_.string());
  ASSERT_TRUE(store.Reload().ok());
  const std::string v1 = store.Current()->ForTenant("acme")->version;

  Write("acme.yaml",
        "tenant: acme\nversion: a2\npolicies:\n  wellbeing:\n    rules:\n"
        "      - {id: w, when: \"agent.x >\", outcome: allow, reason: ok}\n");
  auto report = store.Reload();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->rejected.size(), 1u);
  EXPECT_THAT(std::string(report->rejected[0].second.message()),
              HasSubstr("acme.yaml:6: policies.wellbeing.rules[0].when: column"));
  EXPECT_EQ(store.Current()->ForTenant("acme")->version, v1);
  EXPECT_EQ(store.Rejected().size(), 1u);
  // The same bad content is not reported again...
  report = store.Reload();
  EXPECT_TRUE(report->rejected.empty());
  // ...and a fixed version replaces the old one and clears the rejection.
  Write("acme.yaml", Good("acme", "a3"));
  report = store.Reload();
  ASSERT_EQ(report->loaded.size(), 1u);
  EXPECT_THAT(store.Current()->ForTenant("acme")->version, ::testing::StartsWith("a3@"));
  EXPECT_TRUE(store.Rejected().empty());
}

TEST_F(StoreTest, TwoFilesForOneTenantAreRefusedAndARemovedFileIsDropped) {
  Write("a.yaml", Good("acme", "a1"));
  BundleStore store(dir_.string());
  ASSERT_TRUE(store.Reload().ok());
  Write("b.yaml", Good("acme", "b1"));
  auto report = store.Reload();
  ASSERT_EQ(report->rejected.size(), 1u);
  EXPECT_THAT(std::string(report->rejected[0].second.message()), HasSubstr("is already served by"));
  EXPECT_EQ(store.Current()->ForTenant("acme")->name, "a");
  fs::remove(dir_ / "a.yaml");
  fs::remove(dir_ / "b.yaml");
  report = store.Reload();
  EXPECT_EQ(report->removed.size(), 2u);
  EXPECT_EQ(store.Current()->ForTenant("acme")->name, "default");
}

TEST_F(StoreTest, AStarBundleReplacesTheBuiltInDefault) {
  Write("house.yaml", Good("*", "h1"));
  BundleStore store(dir_.string());
  ASSERT_TRUE(store.Reload().ok());
  EXPECT_EQ(store.Current()->ForTenant("anyone")->name, "house");
  EXPECT_EQ(store.Current()->bundles().size(), 1u);
}

TEST_F(StoreTest, FollowsAConfigMapStyleSymlinkSwap) {
  // Kubernetes mounts ConfigMap keys as links into a ..data directory that it swaps atomically.
  fs::create_directories(dir_ / "..v1");
  std::ofstream(dir_ / "..v1" / "acme.yaml") << Good("acme", "k1");
  fs::create_directory_symlink("..v1", dir_ / "..data");
  fs::create_symlink("..data/acme.yaml", dir_ / "acme.yaml");
  BundleStore store(dir_.string());
  ASSERT_TRUE(store.Reload().ok());
  EXPECT_THAT(store.Current()->ForTenant("acme")->version, ::testing::StartsWith("k1@"));
  fs::create_directories(dir_ / "..v2");
  std::ofstream(dir_ / "..v2" / "acme.yaml") << Good("acme", "k2");
  fs::create_directory_symlink("..v2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  auto report = store.Reload();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->loaded.size(), 1u);
  EXPECT_THAT(store.Current()->ForTenant("acme")->version, ::testing::StartsWith("k2@"));
}

TEST_F(StoreTest, AMissingDirectoryIsAnError) {
  BundleStore store((dir_ / "nope").string());
  auto report = store.Reload();
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sb::policy
