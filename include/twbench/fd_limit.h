// The process's open-file limit (RLIMIT_NOFILE) against what a churn needs:
// both ends of every connection live in this one process, so a run with
// concurrency C holds up to 2*C sockets at once, far past Debian's usual
// soft limit of 1024.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <string>

namespace twbench {

// File descriptors a churn of `concurrency` connections in flight needs at
// most: a client and a server socket per connection, plus the loops' own
// (epoll, eventfd, signal pipe, libuv's EMFILE reserve), the listener, the
// census and sampler sockets, log and result files, with room to spare.
std::uint64_t FdsNeededForConcurrency(int concurrency);

struct FdLimitChange {
  std::uint64_t wanted = 0;
  rlim_t soft_before = 0;
  rlim_t hard_before = 0;
  rlim_t soft = 0;  // in force afterwards
  rlim_t hard = 0;
  // Why the limit could not go as far as wanted ("" when it did): the call
  // and its errno name, or the ceiling that stopped it.
  std::string shortfall;
  bool enough() const { return soft >= wanted; }
  bool changed() const { return soft != soft_before || hard != hard_before; }
};

// Raises the soft RLIMIT_NOFILE to `wanted` fds, never lowers it. When the
// hard limit is below `wanted`, raises the hard limit too if the process may
// (CAP_SYS_RESOURCE), up to fs.nr_open; otherwise the soft limit goes to the
// hard limit. Never throws; reports what it did.
FdLimitChange RaiseFdLimit(std::uint64_t wanted);

// "soft 1024 -> 20256 (hard 1048576)" / "... short of 20256: ..." for logs.
std::string Describe(const FdLimitChange& change);

// RaiseFdLimit for a run of `concurrency`, logged: one info line when the
// limit changed, one warning when it is still short (EMFILE will then be
// counted in the runs, not fatal).
FdLimitChange RaiseFdLimitForConcurrency(int concurrency);

}  // namespace twbench
