// One churn run measured where it ran: in a fresh network namespace (or two,
// joined by veth), or in the host's; the churn, the TIME_WAIT census, the
// kernel counters and the time series all read in the run's namespace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hosts_writer.h"
#include "run_state.h"
#include "twbench/churn_stats.h"
#include "twbench/kernel_counters.h"
#include "twbench/sampler.h"
#include "twbench/scenario.h"
#include "twbench/socket_census.h"
#include "twbench/sysctl.h"

namespace twbench {

struct Census {
  std::uint64_t server = 0;  // TIME_WAIT whose local port is the server's
  std::uint64_t client = 0;  // TIME_WAIT whose remote port is the server's
  bool settled = true;       // no socket of the run still closing
};

// One run, measured where it ran: the churn, the census and the kernel
// counters all in the same network namespace.
struct Measured {
  ChurnStats stats;
  Census census;
  TcpExtCounters tcpext;  // deltas over the run
  // Tcp OutRsts over the run, and of those the RSTs of aborts (TcpExt
  // TCPAbortOn*), which never reach a TIME_WAIT: the ledger's reset term.
  std::uint64_t out_rsts = 0;
  std::uint64_t abort_rsts = 0;
  TcpKnobValues knobs;  // in force during the run, read back
  // /proc/net/sockstat "tw" of the run's namespace after the census: a
  // constant-cost total, exact only when the namespace is the run's alone.
  std::optional<std::uint64_t> sockstat_tw;
  // sockstat "tw" of the run's namespace(s) before the churn: what the run
  // inherits. 0 in a fresh namespace; the host's whole count when shared.
  std::uint64_t time_wait_at_start = 0;
  bool isolated = false;
  std::string error;            // census or counters failed
  std::vector<Sample> samples;  // the time series, when sampled
  int sample_interval_ms = 0;   // 0: not sampled
  // The MPI mode (measure_mpi.h): the ranks of the job (1: one process),
  // and the fewest and most connections/s of one client rank (unset: one
  // process, whose client is the only one).
  int hosts = 1;
  std::optional<std::pair<double, double>> client_hosts_conn_per_s;
  std::vector<HostRow> host_rows;  // rank 0 of a job: one per rank
};

// The run's TIME_WAIT on one side, read in the calling thread's namespace
// once settled: the server's (local port = the server port) or the
// client's (remote port = the server port); with `server_address`, that
// address must match too (local on the server, remote on a client).
SettledCounts CountRunTimeWait(
    const Scenario& s, std::uint16_t server_port, bool server_side,
    const std::optional<sockaddr_storage>& server_address = std::nullopt);

// The counters of one namespace a row reports as deltas over the run.
struct Counters {
  TcpExtCounters tcpext;
  TcpCounters tcp;
  TcpExtAborts aborts;
};
Counters ReadCounters();  // the calling thread's namespace
// Adds after - before of one namespace to the row (veth, hosts: they add up).
void AddDelta(Measured& m, const Counters& after, const Counters& before);

// Whether any kernel knob is set: they are written only into namespaces of
// the run's (or the job's) own.
bool AnyKnobSet(const TcpKnobs& k);

// Runs the scenario where `run` says (isolate) and measures it; failures of
// the set-up or the census are in `error`, never thrown.
Measured Measure(const Scenario& s, const RunState& run);

}  // namespace twbench
