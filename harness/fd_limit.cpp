// Raising RLIMIT_NOFILE for the churn: setrlimit(2) on the whole process
// before any run starts, so every thread of both ends sees it.
#include "twbench/fd_limit.h"

#include <sys/resource.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "spdlog/spdlog.h"
#include "twbench/error_name.h"

namespace twbench {
namespace {

// Loops, listener, census, sampler, logs, results, gtest's own: measured
// well under 64 in this process; the rest is margin.
constexpr std::uint64_t kFdHeadroom = 256;

// fs.nr_open: the kernel's ceiling for any RLIMIT_NOFILE (setrlimit fails
// with EPERM above it, even for root). 1048576 is the kernel's default.
rlim_t NrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  unsigned long long v = 0;
  if (in >> v && v > 0) return static_cast<rlim_t>(v);
  return 1048576;
}

}  // namespace

std::uint64_t FdsNeededForConcurrency(int concurrency) {
  return 2 * static_cast<std::uint64_t>(std::max(concurrency, 0)) + kFdHeadroom;
}

FdLimitChange RaiseFdLimit(std::uint64_t wanted) {
  FdLimitChange c;
  c.wanted = wanted;
  rlimit now{};
  if (getrlimit(RLIMIT_NOFILE, &now) != 0) {
    c.shortfall = "getrlimit(RLIMIT_NOFILE): " + ErrnoName(errno);
    return c;
  }
  c.soft_before = c.soft = now.rlim_cur;
  c.hard_before = c.hard = now.rlim_max;
  const auto want = static_cast<rlim_t>(wanted);
  if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur >= want) return c;
  rlimit next = now;
  if (now.rlim_max != RLIM_INFINITY && now.rlim_max < want) {
    // Raising the hard limit needs CAP_SYS_RESOURCE; try, and fall back.
    const rlim_t ceiling = NrOpen();
    rlimit both{std::min(want, ceiling), std::min(want, ceiling)};
    if (setrlimit(RLIMIT_NOFILE, &both) == 0) {
      next = both;
      if (both.rlim_cur < want) {
        c.shortfall = "fs.nr_open is " + std::to_string(ceiling);
      }
    } else {
      c.shortfall =
          "hard limit " + std::to_string(now.rlim_max) +
          " and setrlimit(RLIMIT_NOFILE) to raise it: " + ErrnoName(errno) +
          " (needs CAP_SYS_RESOURCE)";
      next.rlim_cur = now.rlim_max;
    }
  } else {
    next.rlim_cur = want;
  }
  if (next.rlim_cur != now.rlim_cur || next.rlim_max != now.rlim_max) {
    if (setrlimit(RLIMIT_NOFILE, &next) != 0) {
      c.shortfall = "setrlimit(RLIMIT_NOFILE): " + ErrnoName(errno);
      return c;
    }
  }
  c.soft = next.rlim_cur;
  c.hard = next.rlim_max;
  return c;
}

std::string Describe(const FdLimitChange& c) {
  std::string out =
      "open-file limit (RLIMIT_NOFILE) soft " + std::to_string(c.soft_before);
  if (c.soft != c.soft_before) out += " -> " + std::to_string(c.soft);
  out += ", hard " + std::to_string(c.hard_before);
  if (c.hard != c.hard_before) out += " -> " + std::to_string(c.hard);
  out += "; wanted " + std::to_string(c.wanted);
  if (!c.enough()) {
    out += ", short";
    if (!c.shortfall.empty()) out += ": " + c.shortfall;
  }
  return out;
}

FdLimitChange RaiseFdLimitForConcurrency(int concurrency) {
  FdLimitChange c = RaiseFdLimit(FdsNeededForConcurrency(concurrency));
  if (!c.enough()) {
    spdlog::warn(
        "{}. Runs with concurrency {} may run out of file descriptors; "
        "EMFILE is then counted in their rows, not fatal",
        Describe(c), concurrency);
  } else if (c.changed()) {
    spdlog::info("{}", Describe(c));
  }
  return c;
}

}  // namespace twbench
