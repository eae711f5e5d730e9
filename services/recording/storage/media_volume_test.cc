#include "recording/storage/media_volume.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "recording/storage/store_contract.h"

namespace sb::recording::storage {
namespace {

using ::sb::recording::storage::testing::HasReason;
namespace fs = std::filesystem;

class MediaVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "sb-media-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
    volume_ = std::make_unique<MediaVolume>(root_ + "/volume");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Every regular file under the volume, relative to it.
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::exists(volume_->root(), ec)) return out;
    for (const auto& e : fs::recursive_directory_iterator(volume_->root())) {
      if (e.is_regular_file()) out.push_back(fs::relative(e.path(), volume_->root()).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string Read(const std::string& rel) const {
    std::ifstream in(volume_->root() + "/" + rel, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string root_;
  std::unique_ptr<MediaVolume> volume_;
};

TEST_F(MediaVolumeTest, CommitsChunksAtomically) {
  const uint32_t seed = std::random_device{}();
  std::cout << "CommitsChunksAtomically seed=" << seed << "\n";
  std::mt19937 rng(seed);
  auto upload = volume_->Begin("t1", "rec-1", 1 << 20);
  ASSERT_TRUE(upload.ok()) << upload.status();
  std::string all;
  for (int seq = 0; seq < 20; ++seq) {
    std::string chunk(rng() % 4096, '\0');
    for (char& c : chunk) c = static_cast<char>(rng());
    all += chunk;
    ASSERT_TRUE((*upload)->Append(seq, chunk).ok());
  }
  // Before the commit nothing is visible at the final path.
  EXPECT_FALSE(*volume_->Exists("t1/rec-1.media"));
  auto info = (*upload)->Commit(Sha256::Hex(all));
  ASSERT_TRUE(info.ok()) << info.status() << " seed=" << seed;
  EXPECT_EQ(info->path, "t1/rec-1.media");
  EXPECT_EQ(info->bytes, static_cast<int64_t>(all.size()));
  EXPECT_EQ(info->chunks, 20);
  EXPECT_EQ(info->sha256_hex, Sha256::Hex(all));
  EXPECT_EQ(Files(), std::vector<std::string>{"t1/rec-1.media"});  // no temp left
  EXPECT_EQ(Read("t1/rec-1.media"), all);
  EXPECT_TRUE(HasReason((*upload)->Append(20, "x"), absl::StatusCode::kFailedPrecondition,
                        "UPLOAD_CLOSED"));
}

TEST_F(MediaVolumeTest, ChecksumMismatchLeavesNothing) {
  auto upload = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(0, "hello").ok());
  auto info = (*upload)->Commit(Sha256::Hex("hellO"));
  EXPECT_TRUE(HasReason(info.status(), absl::StatusCode::kDataLoss, "CHECKSUM_MISMATCH"));
  EXPECT_TRUE(Files().empty());
  // Uppercase hex from a client is accepted.
  auto again = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Append(0, "hello").ok());
  std::string upper = Sha256::Hex("hello");
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE((*again)->Commit(upper).ok());
}

TEST_F(MediaVolumeTest, OutOfOrderChunkAborts) {
  auto upload = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(0, "a").ok());
  EXPECT_TRUE(HasReason((*upload)->Append(2, "c"), absl::StatusCode::kInvalidArgument,
                        "CHUNK_OUT_OF_ORDER"));
  EXPECT_TRUE(
      HasReason((*upload)->Append(1, "b"), absl::StatusCode::kFailedPrecondition, "UPLOAD_CLOSED"));
  EXPECT_TRUE(HasReason((*upload)->Commit(Sha256::Hex("a")).status(),
                        absl::StatusCode::kFailedPrecondition, "UPLOAD_CLOSED"));
  EXPECT_TRUE(Files().empty());
  auto dup = volume_->Begin("t1", "rec-2", 100);
  ASSERT_TRUE(dup.ok());
  ASSERT_TRUE((*dup)->Append(0, "a").ok());
  EXPECT_TRUE(HasReason((*dup)->Append(0, "a"), absl::StatusCode::kInvalidArgument,
                        "CHUNK_OUT_OF_ORDER"));  // a repeated chunk too
  EXPECT_TRUE(Files().empty());
}

TEST_F(MediaVolumeTest, TooLargeAborts) {
  auto upload = volume_->Begin("t1", "rec-1", 10);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(0, "12345").ok());
  ASSERT_TRUE((*upload)->Append(1, "67890").ok());  // exactly the limit is fine
  EXPECT_TRUE(
      HasReason((*upload)->Append(2, "x"), absl::StatusCode::kResourceExhausted, "TOO_LARGE"));
  EXPECT_TRUE(Files().empty());
}

TEST_F(MediaVolumeTest, DestructorAndAbortCleanUp) {
  {
    auto upload = volume_->Begin("t1", "rec-1", 100);
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Append(0, "partial").ok());
    EXPECT_EQ(Files().size(), 1u);  // the temp file
  }
  EXPECT_TRUE(Files().empty());
  auto upload = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(upload.ok());
  (*upload)->Abort();
  (*upload)->Abort();
  EXPECT_TRUE(Files().empty());
}

TEST_F(MediaVolumeTest, NeverReplacesCommittedMedia) {
  auto first = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Append(0, "one").ok());
  ASSERT_TRUE((*first)->Commit(Sha256::Hex("one")).ok());
  // The same bytes again (a retried upload) are fine.
  auto same = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(same.ok());
  ASSERT_TRUE((*same)->Append(0, "one").ok());
  EXPECT_TRUE((*same)->Commit(Sha256::Hex("one")).ok());
  // Different bytes are refused and the original kept.
  auto other = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Append(0, "two").ok());
  EXPECT_TRUE(HasReason((*other)->Commit(Sha256::Hex("two")).status(),
                        absl::StatusCode::kAlreadyExists, "MEDIA_EXISTS"));
  EXPECT_EQ(Files(), std::vector<std::string>{"t1/rec-1.media"});
  EXPECT_EQ(Read("t1/rec-1.media"), "one");
}

TEST_F(MediaVolumeTest, DeleteIsIdempotentAndChecksPaths) {
  auto upload = volume_->Begin("t1", "rec-1", 100);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(0, "x").ok());
  auto info = (*upload)->Commit(Sha256::Hex("x"));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(volume_->Delete(info->path).ok());
  EXPECT_TRUE(volume_->Delete(info->path).ok());
  EXPECT_TRUE(Files().empty());
  for (const char* bad : {"../etc/passwd", "t1/../../x.media", "t1/.upload-x.media", "t1.media",
                          "/abs/x.media", "t1/rec-1"}) {
    EXPECT_TRUE(
        HasReason(volume_->Delete(bad), absl::StatusCode::kInvalidArgument, "BAD_MEDIA_PATH"))
        << bad;
  }
}

TEST_F(MediaVolumeTest, RejectsUnsafeNames) {
  for (const char* bad : {"", "..", ".hidden", "a/b", "a b", "x\n"}) {
    EXPECT_TRUE(HasReason(volume_->Begin(bad, "r", 10).status(), absl::StatusCode::kInvalidArgument,
                          "BAD_PATH_COMPONENT"))
        << bad;
    EXPECT_TRUE(HasReason(volume_->Begin("t", bad, 10).status(), absl::StatusCode::kInvalidArgument,
                          "BAD_PATH_COMPONENT"))
        << bad;
  }
  EXPECT_TRUE(HasReason(volume_->Begin("t", "r", 0).status(), absl::StatusCode::kInvalidArgument,
                        "BAD_LIMIT"));
}

TEST_F(MediaVolumeTest, RemovesOnlyStaleUploads) {
  auto old_upload = volume_->Begin("t1", "old", 100);
  auto fresh_upload = volume_->Begin("t1", "fresh", 100);
  ASSERT_TRUE(old_upload.ok());
  ASSERT_TRUE(fresh_upload.ok());
  // Age the first temp file: a crash left it an hour ago.
  std::string old_path;
  for (const auto& e : fs::directory_iterator(volume_->root() + "/t1")) {
    if (e.path().filename().string().starts_with(".upload-old-")) old_path = e.path().string();
  }
  ASSERT_FALSE(old_path.empty());
  struct utimbuf times {
    1000, 1000
  };  // 1970: long ago
  ASSERT_EQ(::utime(old_path.c_str(), &times), 0);
  auto removed = volume_->RemoveStaleUploads(/*older_than_unix_ms=*/2'000'000);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(Files().size(), 1u);
  EXPECT_TRUE(Files()[0].find(".upload-fresh-") != std::string::npos);
}

}  // namespace
}  // namespace sb::recording::storage
