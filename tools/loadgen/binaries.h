// Where the load tools find the service binaries they spawn.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sb::traffic {

// $SB_BIN_DIR/<name> when SB_BIN_DIR is set, else `built` (the path CMake compiled in).
inline std::string BinaryPath(const std::string& name, const char* built) {
  if (const char* dir = std::getenv("SB_BIN_DIR"); dir != nullptr && *dir != '\0') {
    return (std::filesystem::path(dir) / name).string();
  }
  return built;
}

}  // namespace sb::traffic
