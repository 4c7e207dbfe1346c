// What tests that run a process short of file descriptors share: the soft
// RLIMIT_NOFILE that leaves exactly N fds free, set for a scope.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdint>

namespace twbench::test {

// The soft limit that leaves exactly `room` fd numbers free below it: a new
// fd takes the lowest free number, which must be below the limit, so holes
// below the highest open fd count as room too.
inline std::uint64_t LimitLeavingRoom(int room) {
  int fd = 0;
  for (int free = 0;; ++fd) {
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF && free++ == room) break;
  }
  return static_cast<std::uint64_t>(fd);
}

// Sets the soft RLIMIT_NOFILE for its scope and puts the old one back (the
// hard limit is left alone, so restoring needs no privilege).
class SoftFdLimit {
 public:
  explicit SoftFdLimit(std::uint64_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit r = saved_;
    r.rlim_cur = static_cast<rlim_t>(soft);
    ok_ = setrlimit(RLIMIT_NOFILE, &r) == 0;
  }
  SoftFdLimit(const SoftFdLimit&) = delete;
  SoftFdLimit& operator=(const SoftFdLimit&) = delete;
  ~SoftFdLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

}  // namespace twbench::test
