#pragma once
// Names the calling thread (as `top -H`, `ps -L`, `perf` and /proc/<pid>/task/*/comm show it),
// so an operator can tell which of a service's threads uses the CPU. Linux keeps 15 bytes.

#include <pthread.h>

#include <string>
#include <string_view>

namespace sb {

inline void NameThisThread(std::string_view name) {
  const std::string n(name.substr(0, 15));
  (void)pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace sb
