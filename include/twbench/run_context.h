// The context every result row carries, so that two result files can be
// told apart: kernel, libuv version, git commit, host, UTC time.
#pragma once

#include <string>

namespace twbench {

struct RunContext {
  std::string kernel;         // uname -r
  std::string libuv_version;  // uv_version_string() of the linked libuv
  std::string git_commit;     // short hash at configure time, "+dirty" if so
  std::string host;           // uname -n
  std::string utc;  // start of the run, ISO 8601 "2026-11-23T19:22:21Z"

  // Reads the context of this process now. TWBENCH_GIT_COMMIT in the
  // environment, when set, overrides the commit compiled in.
  static RunContext Collect();
};

}  // namespace twbench
