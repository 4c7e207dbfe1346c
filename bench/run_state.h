// What every run of one invocation shares, set up by main and passed to the
// benchmarks explicitly: where runs go, where samples go, when to stop.
#pragma once

#include <atomic>
#include <string>

namespace twbench {

class TimeseriesWriter;
class HostsWriter;
class NetNamespace;
namespace mpi {
struct Job;
}

struct RunState {
  // Set by the signal handler: the running churn stops like at its time
  // limit and every benchmark after it is skipped.
  const std::atomic<bool>* stop = nullptr;
  bool isolate = false;  // each run gets a fresh network namespace
  // Each run is sampled every `sample_interval_ms` (0: not) and its rows
  // written here after the run; null: no time series.
  TimeseriesWriter* timeseries = nullptr;
  int sample_interval_ms = 0;
  // Launched by mpirun (bench/mpi_job.h): every run spans the job's ranks
  // (measure_mpi.h). Null: one process, as before.
  const mpi::Job* job = nullptr;
  // --rank_netns: this rank's namespace, where its loop threads, knobs,
  // census and counters are; null: the namespace the rank was launched in.
  const NetNamespace* rank_netns = nullptr;
  // --server_addr; "": the server rank's loopback (one host, one namespace).
  std::string server_addr;
  // Rank 0 of a job with --csv: <stem>.hosts.csv; null: not written.
  HostsWriter* hosts = nullptr;
};

// Starts the error message of a run this process cannot give what it needs
// (a network namespace of its own, for kernel knobs or veth): not a failure
// of the run, so main's exit status leaves these out.
inline constexpr char kNotRunPrefix[] = "not run: ";

}  // namespace twbench
