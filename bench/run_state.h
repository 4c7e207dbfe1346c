// What every run of one invocation shares, set up by main and passed to the
// benchmarks explicitly: where runs go, where samples go, when to stop.
#pragma once

#include <atomic>

namespace twbench {

class TimeseriesWriter;

struct RunState {
  // Set by the signal handler: the running churn stops like at its time
  // limit and every benchmark after it is skipped.
  const std::atomic<bool>* stop = nullptr;
  bool isolate = false;  // each run gets a fresh network namespace
  // Each run is sampled every `sample_interval_ms` (0: not) and its rows
  // written here after the run; null: no time series.
  TimeseriesWriter* timeseries = nullptr;
  int sample_interval_ms = 0;
};

// Starts the error message of a run this process cannot give what it needs
// (a network namespace of its own, for kernel knobs or veth): not a failure
// of the run, so main's exit status leaves these out.
inline constexpr char kNotRunPrefix[] = "not run: ";

}  // namespace twbench
