#include "recording/storage/media_volume.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

constexpr size_t kMaxComponent = 128;
constexpr std::string_view kSuffix = ".media";
constexpr std::string_view kUploadPrefix = ".upload-";

absl::Status CheckComponent(std::string_view field, std::string_view v) {
  bool ok = !v.empty() && v.size() <= kMaxComponent && v.front() != '.';
  for (char c : v) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        Cat("BAD_PATH_COMPONENT: ", field,
            " must be 1..128 of [A-Za-z0-9._-] and not start with '.' to name a media file"));
  }
  return absl::OkStatus();
}

absl::Status IoError(std::string_view what, const std::string& path, int err) {
  const std::string msg = Cat(what, " '", path, "': ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(Cat("VOLUME_FULL: ", msg));
  }
  return absl::UnavailableError(Cat("VOLUME_IO: ", msg));
}

absl::Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("fsync directory", dir, err);
  return absl::OkStatus();
}

absl::StatusOr<std::string> HashFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("open", path, errno);
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return IoError("read", path, err);
    }
    if (n == 0) break;
    h.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return h.FinishHex();
}

}  // namespace

MediaVolume::MediaVolume(std::string root) : root_(std::move(root)) {}

absl::StatusOr<std::string> MediaVolume::RelativePath(std::string_view tenant_id,
                                                      std::string_view recording_id) {
  if (absl::Status s = CheckComponent("tenant_id", tenant_id); !s.ok()) return s;
  if (absl::Status s = CheckComponent("recording_id", recording_id); !s.ok()) return s;
  return Cat(tenant_id, "/", recording_id, kSuffix);
}

absl::StatusOr<std::unique_ptr<MediaUpload>> MediaVolume::Begin(std::string_view tenant_id,
                                                                std::string_view recording_id,
                                                                int64_t max_bytes) const {
  auto rel = RelativePath(tenant_id, recording_id);
  if (!rel.ok()) return rel.status();
  if (max_bytes <= 0) {
    return absl::InvalidArgumentError("BAD_LIMIT: max_bytes must be > 0");
  }
  const std::string dir = Cat(root_, "/", tenant_id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("create directory", dir, ec.value());
  std::string temp = Cat(dir, "/", kUploadPrefix, recording_id, "-XXXXXX");
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return IoError("create temp file in", dir, errno);
  auto upload = std::unique_ptr<MediaUpload>(new MediaUpload());
  upload->fd_ = fd;
  upload->dir_ = dir;
  upload->temp_path_ = std::move(temp);
  upload->final_path_ = Cat(root_, "/", *rel);
  upload->relative_path_ = *std::move(rel);
  upload->max_bytes_ = max_bytes;
  return upload;
}

absl::Status MediaVolume::Delete(std::string_view relative_path) const {
  const size_t slash = relative_path.find('/');
  const absl::Status bad = absl::InvalidArgumentError(
      Cat("BAD_MEDIA_PATH: '", relative_path, "' is not <tenant>/<recording>.media"));
  if (slash == std::string_view::npos || !relative_path.ends_with(kSuffix)) return bad;
  const std::string_view tenant = relative_path.substr(0, slash);
  const std::string_view file = relative_path.substr(slash + 1);
  const std::string_view recording = file.substr(0, file.size() - kSuffix.size());
  if (!CheckComponent("tenant_id", tenant).ok() ||
      !CheckComponent("recording_id", recording).ok()) {
    return bad;
  }
  const std::string path = Cat(root_, "/", relative_path);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return IoError("delete", path, errno);
  }
  return FsyncDir(Cat(root_, "/", tenant));
}

absl::StatusOr<bool> MediaVolume::Exists(std::string_view relative_path) const {
  const std::string path = Cat(root_, "/", relative_path);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT) return false;
  return IoError("stat", path, errno);
}

absl::StatusOr<int> MediaVolume::RemoveStaleUploads(int64_t older_than_unix_ms) const {
  int removed = 0;
  std::error_code ec;
  if (!std::filesystem::exists(root_, ec)) return 0;
  for (const auto& tenant : std::filesystem::directory_iterator(root_, ec)) {
    if (!tenant.is_directory()) continue;
    std::error_code ec2;
    for (const auto& entry : std::filesystem::directory_iterator(tenant.path(), ec2)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(kUploadPrefix)) continue;
      struct stat st;
      if (::stat(entry.path().c_str(), &st) != 0) continue;  // raced with its own cleanup
      const int64_t mtime_ms =
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
      if (mtime_ms >= older_than_unix_ms) continue;
      if (::unlink(entry.path().c_str()) == 0) ++removed;
    }
    if (ec2) return IoError("list", tenant.path().string(), ec2.value());
  }
  if (ec) return IoError("list", root_, ec.value());
  return removed;
}

MediaUpload::~MediaUpload() { Abort(); }

void MediaUpload::Abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!closed_) {
    ::unlink(temp_path_.c_str());
    closed_ = true;
  }
}

absl::Status MediaUpload::Fail(absl::Status s) {
  Abort();
  return s;
}

absl::Status MediaUpload::Append(int64_t seq, std::string_view bytes) {
  if (closed_) {
    return absl::FailedPreconditionError("UPLOAD_CLOSED: the upload was committed or aborted");
  }
  if (seq != next_seq_) {
    return Fail(absl::InvalidArgumentError(
        Cat("CHUNK_OUT_OF_ORDER: expected chunk ", next_seq_, ", got ", seq, "; upload aborted")));
  }
  if (static_cast<int64_t>(bytes.size()) > max_bytes_ - bytes_) {
    return Fail(absl::ResourceExhaustedError(
        Cat("TOO_LARGE: the upload exceeds ", max_bytes_, " bytes; upload aborted")));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(IoError("write", temp_path_, errno));
    done += static_cast<size_t>(n);
  }
  sha_.Update(bytes);
  bytes_ += static_cast<int64_t>(bytes.size());
  ++next_seq_;
  return absl::OkStatus();
}

absl::StatusOr<MediaInfo> MediaUpload::Commit(std::string_view expected_sha256_hex) {
  if (closed_) {
    return absl::FailedPreconditionError("UPLOAD_CLOSED: the upload was committed or aborted");
  }
  const std::string expected = absl::AsciiStrToLower(
      absl::string_view(expected_sha256_hex.data(), expected_sha256_hex.size()));
  if (!IsSha256Hex(expected)) {
    return Fail(absl::InvalidArgumentError(
        "BAD_SHA256: the expected checksum must be 64 hex digits; upload aborted"));
  }
  const std::string actual = sha_.FinishHex();
  if (actual != expected) {
    return Fail(
        absl::DataLossError(Cat("CHECKSUM_MISMATCH: received ", bytes_, " bytes hashing to ",
                                actual, ", the client sent ", expected, "; upload aborted")));
  }
  if (::fsync(fd_) != 0) return Fail(IoError("fsync", temp_path_, errno));
  ::close(fd_);
  fd_ = -1;
  MediaInfo info{relative_path_, bytes_, actual, next_seq_};
  // Never replace a committed file: RENAME_NOREPLACE, or link() where the filesystem lacks it.
  int rc =
      ::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    rc = ::link(temp_path_.c_str(), final_path_.c_str());
    if (rc == 0) ::unlink(temp_path_.c_str());
  }
  if (rc != 0) {
    const int err = errno;
    if (err == EEXIST) {
      // A retried upload of the same bytes (e.g. after a crash before SetMedia) is fine.
      auto existing = HashFile(final_path_);
      if (existing.ok() && *existing == actual) {
        Abort();
        return info;
      }
      return Fail(absl::AlreadyExistsError(
          Cat("MEDIA_EXISTS: different media is already stored at '", relative_path_, "'")));
    }
    return Fail(IoError("rename into place", final_path_, err));
  }
  closed_ = true;  // the temp name is gone; nothing to clean up
  if (absl::Status s = FsyncDir(dir_); !s.ok()) return s;
  return info;
}

}  // namespace sb::recording::storage
