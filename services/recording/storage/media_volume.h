// MediaVolume: recording media files on a volume (a directory), written atomically with their
// SHA-256. Layout: <root>/<tenant_id>/<recording_id>.media, uploads in progress as
// <root>/<tenant_id>/.upload-<recording_id>-XXXXXX next to their destination.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recording/storage/audit_chain.h"
#include "recording/storage/store.h"

namespace sb::recording::storage {

class MediaUpload;

// MediaVolume
//
// Stateless apart from the root path: safe to use from any thread. Two uploads of the same
// recording may run at once; the first to commit wins, the other gets ALREADY_EXISTS (unless its
// bytes are identical, which is OK).
class MediaVolume {
 public:
  explicit MediaVolume(std::string root);

  // Starts an upload. `tenant_id` and `recording_id` must be safe path components
  // ([A-Za-z0-9._-], not starting with '.', at most 128 bytes: INVALID_ARGUMENT:
  // BAD_PATH_COMPONENT). `max_bytes` > 0 bounds the whole upload.
  absl::StatusOr<std::unique_ptr<MediaUpload>> Begin(std::string_view tenant_id,
                                                     std::string_view recording_id,
                                                     int64_t max_bytes) const;

  // Removes a committed media file by its relative path (MediaInfo::path). OK if already gone
  // (deletion jobs retry). INVALID_ARGUMENT: BAD_MEDIA_PATH for anything that is not of the
  // form "<tenant>/<recording>.media".
  absl::Status Delete(std::string_view relative_path) const;

  // Whether a committed file exists at the relative path.
  absl::StatusOr<bool> Exists(std::string_view relative_path) const;

  // Removes uploads left behind by a crash: ".upload-*" files last written before
  // `older_than_unix_ms` (pass now minus a margin longer than any upload, so uploads still
  // running on another replica sharing the volume are spared). Returns how many were removed.
  absl::StatusOr<int> RemoveStaleUploads(int64_t older_than_unix_ms) const;

  // "<tenant>/<recording>.media", after the same checks as Begin.
  static absl::StatusOr<std::string> RelativePath(std::string_view tenant_id,
                                                  std::string_view recording_id);

  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

// MediaUpload
//
// One upload in progress: chunks are appended in sequence (0, 1, 2, ...) to a temp file while
// their SHA-256 is computed; Commit checks the client's checksum, fsyncs and renames the file
// into place (and fsyncs the directory). Any failure deletes the temp file, so nothing partial
// is ever visible at the final path; after a failure or Abort every call returns
// FAILED_PRECONDITION: UPLOAD_CLOSED. Destroying an uncommitted upload aborts it. Owned by one
// thread (the gRPC stream's handler).
class MediaUpload {
 public:
  ~MediaUpload();
  MediaUpload(const MediaUpload&) = delete;
  MediaUpload& operator=(const MediaUpload&) = delete;

  // INVALID_ARGUMENT: CHUNK_OUT_OF_ORDER unless `seq` is the next sequence number;
  // RESOURCE_EXHAUSTED: TOO_LARGE past max_bytes. Both abort the upload.
  absl::Status Append(int64_t seq, std::string_view bytes);

  // DATA_LOSS: CHECKSUM_MISMATCH when the bytes received do not hash to `expected_sha256_hex`
  // (INVALID_ARGUMENT: BAD_SHA256 if it is not 64 hex digits); ALREADY_EXISTS: MEDIA_EXISTS if
  // different media is already committed for the recording. On success returns the MediaInfo to
  // store with RecordingStore::SetMedia.
  absl::StatusOr<MediaInfo> Commit(std::string_view expected_sha256_hex);

  // Discards the upload. Idempotent.
  void Abort();

  int64_t bytes() const { return bytes_; }
  int64_t chunks() const { return next_seq_; }

 private:
  friend class MediaVolume;
  MediaUpload() = default;
  absl::Status Fail(absl::Status s);

  int fd_ = -1;
  std::string dir_;         // absolute directory of the tenant
  std::string temp_path_;   // absolute
  std::string final_path_;  // absolute
  std::string relative_path_;
  int64_t max_bytes_ = 0;
  int64_t bytes_ = 0;
  int64_t next_seq_ = 0;
  Sha256 sha_;
  bool closed_ = false;
};

}  // namespace sb::recording::storage
