// The bare-epoll baseline's server thread: accept4 on its listener (its own
// with accept=reuseport, the run's one with accept=shared) and the closer's
// way of ending each connection, on an epoll set of its own. Private to
// harness/.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "twbench/churn_stats.h"
#include "twbench/scenario.h"
#include "twbench/unique_fd.h"

namespace twbench {

// One server thread's counts on cache lines of its own. `accepted` mirrors
// stats.accepted (one writer, relaxed) for the other threads' end-of-run
// drain; nothing else is shared.
struct alignas(64) BaselineServerPart {
  ServerStats stats;
  alignas(64) std::atomic<std::uint64_t> accepted{0};
};

class BaselineServer {
 public:
  // `listener`: non-blocking, listening, owned by the caller, outliving Run().
  // `group`: every server thread's part (this one's included), for the drain.
  BaselineServer(const Scenario& b, int listener, BaselineServerPart* part,
                 std::span<const BaselineServerPart> group);

  // Setup that must not fail: "" or the call that failed and its errno.
  std::string Init();
  // Serves until RequestStop, then drains (at most 1 s, as the engine) and
  // closes whatever it still holds.
  void Run();
  // Thread-safe: `client_connected` connections the clients saw established
  // are accepted (by any server thread) before Run() returns.
  void RequestStop(std::uint64_t client_connected);

 private:
  bool Turn(int timeout_ms);  // one epoll_wait and its events; false: stop
  void AcceptAll();
  void Serve(int fd);
  void OnConnection(int fd, std::uint32_t events);
  void CloseConnection(int fd);
  void Pause();
  void Resume();
  bool AllAccepted() const;
  void Drain();

  const Scenario& b_;
  int listener_;
  BaselineServerPart* part_;
  ServerStats* stats_;
  std::span<const BaselineServerPart> group_;
  // accept=shared with several threads: the listener is in every thread's
  // epoll set with EPOLLEXCLUSIVE (baseline_server.cpp).
  std::uint32_t listener_events_ = EPOLLIN;
  UniqueFd epoll_;
  UniqueFd stop_;
  std::atomic<std::uint64_t> expected_accepts_{0};
  bool paused_ = false;  // the listener is out of the epoll set
  // closer=client: accepted connections awaiting the client's FIN, by fd.
  std::vector<char> open_;
  std::size_t open_count_ = 0;
};

}  // namespace twbench
