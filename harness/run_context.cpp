#include "twbench/run_context.h"

#include <sys/utsname.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <system_error>

// CMake generates it (the commit configured from); a hand-built object
// still links.
#if __has_include("twbench_git_commit.h")
#include "twbench_git_commit.h"
#endif
#ifndef TWBENCH_GIT_COMMIT
#define TWBENCH_GIT_COMMIT "unknown"
#endif

namespace twbench {
namespace {

std::string UtcNow() {
  const std::time_t now =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  // gmtime_r, not gmtime: the static buffer of gmtime is shared by threads.
  if (gmtime_r(&now, &utc) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "gmtime_r");
  }
  char text[sizeof "2026-11-23T19:22:21Z"];
  const std::size_t length =
      std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, length);
}

std::string GitCommit() {
  // Empty counts as unset: `TWBENCH_GIT_COMMIT= cmd` is how shells unset a
  // variable for one command.
  const char* from_env = std::getenv("TWBENCH_GIT_COMMIT");
  if (from_env != nullptr && *from_env != '\0') return from_env;
  return TWBENCH_GIT_COMMIT;
}

}  // namespace

RunContext RunContext::Collect() {
  struct utsname names {};
  // Results without their kernel cannot be compared; fail loudly.
  if (uname(&names) != 0) {
    throw std::system_error(errno, std::generic_category(), "uname");
  }
  RunContext context;
  context.kernel = names.release;
  context.libuv_version = uv_version_string();
  context.git_commit = GitCommit();
  context.host = names.nodename;
  context.utc = UtcNow();
  return context;
}

}  // namespace twbench
