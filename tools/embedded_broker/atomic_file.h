#pragma once
// Small files that other processes poll for: written whole or not at all.

#include <string>

#include "absl/status/status.h"

namespace sb::broker {

// Writes `contents` to `path` so that a reader sees either no file, the old file or the whole new
// file, never a part: it writes PATH.tmp.PID in the same directory, fsyncs it and renames it over
// `path`. The error names the path and says what to fix. Thread-compatible.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

// Removes `path` if it still holds exactly `contents`: a newer broker that reused the path keeps
// its file. A missing file is fine.
absl::Status RemoveFileIfUnchanged(const std::string& path, const std::string& contents);

}  // namespace sb::broker
