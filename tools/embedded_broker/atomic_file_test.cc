#include "embedded_broker/atomic_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sb::broker {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards: tests may run in parallel.
class EmbeddedBrokerAtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sb-atomic-file-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Read(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

TEST_F(EmbeddedBrokerAtomicFile, WritesAndReplacesWholeFilesWithoutLeftovers) {
  fs::path file = dir_ / "bootstrap";
  ASSERT_TRUE(WriteFileAtomically(file.string(), "127.0.0.1:1\n").ok());
  EXPECT_EQ(Read(file), "127.0.0.1:1\n");
  ASSERT_TRUE(WriteFileAtomically(file.string(), "127.0.0.1:2\n").ok());
  EXPECT_EQ(Read(file), "127.0.0.1:2\n");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1) << "the temporary file was left behind";
}

TEST_F(EmbeddedBrokerAtomicFile, MissingDirectoryIsAClearError) {
  absl::Status s = WriteFileAtomically((dir_ / "no" / "such" / "file").string(), "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("directory exists"), std::string::npos) << s;
}

TEST_F(EmbeddedBrokerAtomicFile, RemovesOnlyItsOwnContents) {
  fs::path file = dir_ / "bootstrap";
  ASSERT_TRUE(WriteFileAtomically(file.string(), "mine\n").ok());
  ASSERT_TRUE(RemoveFileIfUnchanged(file.string(), "theirs\n").ok());
  EXPECT_TRUE(fs::exists(file)) << "another broker's file was removed";
  ASSERT_TRUE(RemoveFileIfUnchanged(file.string(), "mine\n").ok());
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(RemoveFileIfUnchanged(file.string(), "mine\n").ok()) << "already gone is fine";
}

}  // namespace
}  // namespace sb::broker
