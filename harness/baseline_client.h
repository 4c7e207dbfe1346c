// The bare-epoll baseline's client thread: `concurrency` non-blocking
// connects in flight on an epoll set of its own, each slot starting its next
// connection when the last one ended, until its budget or the run's time
// limit. Private to harness/.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "twbench/churn_stats.h"
#include "twbench/run_clock.h"
#include "twbench/scenario.h"
#include "twbench/unique_fd.h"

namespace twbench {

// One client thread's part of the run, split as the engine's (ShareOf).
struct BaselineShare {
  int concurrency = 1;
  std::uint64_t connections = 0;
  // Source addresses bound in turn with IP_BIND_ADDRESS_NO_PORT (client_addrs
  // > 1), from `first_source` on; empty: connect() picks address and port.
  std::vector<sockaddr_storage> sources;
  std::size_t first_source = 0;
};

class BaselineClient {
 public:
  BaselineClient(const Scenario& b, BaselineShare share,
                 sockaddr_storage server, const std::atomic<bool>* stop,
                 ClientStats* stats);

  // Setup that must not fail: "" or the call that failed and its errno.
  std::string Init();
  // Runs the whole churn on the calling thread.
  void Run();

 private:
  struct Slot {
    UniqueFd fd;
    std::uint64_t start_ns = 0;
    std::uint32_t source = 0;  // index of the source address it bound
    std::uint16_t port = 0;    // its local port, read after connect()
    bool backoff = false;      // restart on the next sweep (out of fds)
    bool done = false;         // no further connection: budget or time spent
  };

  void Start(std::size_t i);
  int BindSource(Slot& s);
  void OnEvent(std::size_t i, std::uint32_t events);
  void OnEnded(std::size_t i);
  void Complete(std::size_t i);
  void NotePort(const Slot& s);
  void Fail(std::size_t i, Step step, int err);
  void Restart(std::size_t i);
  void Sweep();

  const Scenario& b_;
  BaselineShare share_;
  sockaddr_storage server_;
  RunDeadline deadline_;
  ClientStats* stats_;
  // closer=client: the connect's completion (EPOLLOUT) is the end; else the
  // server's FIN or RST (EPOLLIN/EPOLLRDHUP; EPOLLERR always comes).
  std::uint32_t events_;
  UniqueFd epoll_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> ready_;  // slots to start at the next turn
  std::size_t next_source_ = 0;
  std::size_t done_ = 0;
  std::uint64_t end_ns_ = 0;
  std::uint64_t next_sweep_ns_ = 0;
};

}  // namespace twbench
