// The churn engine: server loops and client loops (Scenario::loops of each),
// each a uv_loop_t on its own thread, open and close connections as the
// scenario says.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
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

// The two halves of a run, for ends in different processes (the ranks of an
// MPI job, a host each); RunChurn is the two in one process. Each writes its
// half of the caller's ChurnStats (client or server, server_port,
// accepted_per_loop, fatal), which must outlive it.
class ChurnServerSide {
 public:
  ChurnServerSide(const Scenario& s, const Placement& placement,
                  LiveCounters* live, ChurnStats* stats);
  ~ChurnServerSide();
  // Makes the listeners (the port, when the scenario sets none, is the
  // kernel's pick) and sets the loops up; false with stats->fatal set.
  bool Setup();
  std::uint16_t port() const { return port_; }
  void Start();  // the loop threads run
  // The clients are done: `connected` connections were established, the
  // churn ending at `end_ns` (this process's clock, run_clock.h). Accepts
  // what can still come, stops, joins, merges, closes every loop, rebinds.
  void Finish(std::uint64_t connected, std::uint64_t end_ns);
  void Abandon();  // after Setup, instead of Start: nothing ran

 private:
  friend class ChurnClientSide;  // YieldFdsTo
  struct Loops;
  const Scenario& s_;
  const Placement& placement_;
  LiveCounters* live_;
  ChurnStats* stats_;
  std::uint16_t port_ = 0;
  // Server loops out of fds now (harness/accept_throttle.h).
  std::atomic<int> fd_claims_{0};
  std::unique_ptr<Loops> loops_;
};

// Client loops `first_part` .. `first_part + loops - 1` of `parts` in all
// (the job's client loops; one process: 0 of Scenario::loops), each with its
// share of the budget and concurrency, to `server` (address and port).
class ChurnClientSide {
 public:
  ChurnClientSide(const Scenario& s, const Placement& placement,
                  sockaddr_storage server, const std::atomic<bool>* stop,
                  LiveCounters* live, ChurnStats* stats, int first_part = 0,
                  int parts = 0);
  ~ChurnClientSide();
  // Both ends in this process, which has one fd limit: while a server loop
  // is out of fds, the client loops open no new socket (before Setup).
  void YieldFdsTo(const ChurnServerSide& server) {
    server_fd_claims_ = &server.fd_claims_;
  }
  bool Setup();
  void Start();
  // Waits for every client loop to end, merges and closes them; returns the
  // churn's end (the last loop's, run_clock.h).
  std::uint64_t Join();
  void Abandon();

 private:
  struct Loops;
  const Scenario& s_;
  const Placement& placement_;
  sockaddr_storage server_;
  const std::atomic<bool>* stop_;
  LiveCounters* live_;
  ChurnStats* stats_;
  int first_part_;
  int parts_;
  const std::atomic<int>* server_fd_claims_ = nullptr;
  std::unique_ptr<Loops> loops_;
};

}  // namespace twbench
