// The bare-epoll baseline: the same churn as the engine's closer=server
// payload=0 runs, written straight on Linux sockets and epoll with no libuv,
// so that the ratio engine / baseline, measured in the same run, says how
// much the harness itself costs (docs/speed.md).
#pragma once

#include <atomic>
#include <cstdint>

#include "twbench/churn_stats.h"
#include "twbench/scenario.h"

namespace twbench {

struct BaselineSettings {
  Family family = Family::kIPv4;  // 127.0.0.1 or ::1
  int concurrency = 64;           // connects in flight, 1..kMaxConcurrency
  int backlog = 4096;             // listen(2) backlog
  // Budget, as the engine's: `connections` attempts or `time_limit_s`
  // seconds, whichever comes first.
  std::uint64_t connections = 10000;
  double time_limit_s = 30.0;
  // Deadline of one connection, connect to the server's FIN.
  double connection_timeout_s = 5.0;
  // false: the listener never accepts (a stalled server; tests the deadlines).
  bool server_accepts = true;
};

// One server thread (non-blocking listener on loopback port 0, accept4 in a
// loop, each accepted socket closed at once: server-side close) and the
// calling thread as the client (`concurrency` non-blocking connects in
// flight; each waits for the server's FIN, reads the EOF, closes and starts
// the next). Per connection: socket, connect, epoll_ctl, epoll_wait, read,
// close on the client; accept4, close on the server.
//
// Fills attempted, completed, connected (= completed: only a connection that
// got the FIN is known to have been established), accepted, unfinished,
// seconds, hit_time_limit, errors (by step and errno name), latency and
// server_port; `fatal` when the setup failed. Never hangs: every connection
// has its deadline, the run its time limit; `stop` ends it early.
ChurnStats RunBaselineChurn(const BaselineSettings& settings,
                            const std::atomic<bool>* stop = nullptr);

}  // namespace twbench
