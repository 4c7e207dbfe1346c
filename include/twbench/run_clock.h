// The clock, the stop and deadline rules, and the errno backoff list that the
// churn engine and the bare-epoll baseline share, so that both measure time
// and end a run the same way.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace twbench {

// Monotonic nanoseconds (steady_clock is CLOCK_MONOTONIC on Linux, the clock
// uv_hrtime and libuv's timers read too).
inline std::uint64_t NowNs() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

std::uint64_t SecondsToNs(double s);

// Errors after which a client slot or an accept waits a moment instead of
// retrying at once: the process or the kernel is out of fds or memory, and a
// retry now fails the same way. `err` is an errno or a libuv error (-errno).
bool ShouldBackOff(int err);

// A run's time budget and its external stop flag (e.g. set on SIGINT), read
// by the client loop of either churn. One owner thread.
class RunDeadline {
 public:
  RunDeadline(double time_limit_s, double connection_timeout_s,
              const std::atomic<bool>* stop)
      : limit_ns_(SecondsToNs(time_limit_s)),
        connection_timeout_ns_(SecondsToNs(connection_timeout_s)),
        stop_(stop) {}

  void Start(std::uint64_t now_ns) { start_ns_ = now_ns; }
  std::uint64_t start_ns() const { return start_ns_; }
  double SecondsSinceStart(std::uint64_t now_ns) const {
    return static_cast<double>(now_ns - start_ns_) / 1e9;
  }

  // Whether no new connection may start: the limit struck at a sweep, or the
  // stop flag is set (seen at once, between sweeps too).
  bool Stopping() const { return stopping_ || StopRequested(); }

  // Called on each sweep: true once, at the sweep where the time limit or the
  // stop flag is first seen; the caller then cuts what is in flight.
  bool StrikesNow(std::uint64_t now_ns) {
    if (stopping_) return false;
    stopping_ = now_ns - start_ns_ >= limit_ns_ || StopRequested();
    return stopping_;
  }

  // Whether a sweep has seen the limit or the stop flag (what it cut is
  // counted as unfinished).
  bool Struck() const { return stopping_; }

  // A connection started at `start_ns` has run out of time.
  bool Overdue(std::uint64_t start_ns, std::uint64_t now_ns) const {
    return now_ns - start_ns >= connection_timeout_ns_;
  }

 private:
  bool StopRequested() const { return stop_ != nullptr && stop_->load(); }

  std::uint64_t limit_ns_;
  std::uint64_t connection_timeout_ns_;
  const std::atomic<bool>* stop_;
  std::uint64_t start_ns_ = 0;
  bool stopping_ = false;
};

}  // namespace twbench
