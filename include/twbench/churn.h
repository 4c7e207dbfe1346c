// The churn engine: server loops and client loops (Scenario::loops of each),
// each a uv_loop_t on its own thread, open and close connections as the
// scenario says.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <optional>
#include <vector>

#include "twbench/churn_stats.h"
#include "twbench/live_counters.h"
#include "twbench/scenario.h"

namespace twbench {

class NetNamespace;

// Where the two ends run: by default both in the calling thread's network
// namespace on loopback. The veth topology puts each end in a namespace of
// its own and the listener on the server's veth address.
struct Placement {
  const NetNamespace* client = nullptr;  // null: the calling thread's
  const NetNamespace* server = nullptr;
  std::optional<sockaddr_storage> server_address;  // null: loopback
  // The address a client socket binds to with client_bind=range or
  // range_no_port (its port is replaced); null: loopback.
  std::optional<sockaddr_storage> client_address;
  // client_addrs > 1: the source addresses the client sockets bind in turn,
  // at least client_addrs of them; empty: 127.0.0.1 .. 127.0.0.K.
  std::vector<sockaddr_storage> client_sources;
};

// Runs the scenario to its budget and returns what it measured. Failures of
// single connections are counted in the stats, EMFILE too; a run that cannot
// go on (listener or loop setup failed, e.g. out of fds) returns with `fatal`
// set. The caller raises RLIMIT_NOFILE beforehand (fd_limit.h): both ends'
// sockets are this process's. `stop`, when given and set
// by another thread (e.g. on SIGINT), ends the run early like its time limit.
// Every handle is closed and both loops close cleanly before it returns.
// `live`, when given, receives running counts a sampler may read meanwhile.
ChurnStats RunChurn(const Scenario& scenario,
                    const std::atomic<bool>* stop = nullptr,
                    const Placement& placement = {},
                    LiveCounters* live = nullptr);

}  // namespace twbench
