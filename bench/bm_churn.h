// BM_Churn: one churn run per iteration, its stats and the socket census
// turned into the counters every churn benchmark reports.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "twbench/scenario.h"

namespace twbench {

class TimeseriesWriter;

// Set by a stop signal (stop_signal.h): the running churn stops like at its
// time limit and every benchmark after it is skipped, so what was measured is
// still written.
extern std::atomic<bool> g_interrupted;

// Whether each run gets a fresh network namespace (set before running).
extern bool g_isolate;

// The time series: when set (main owns it), each run is sampled every
// g_sample_interval_ms (0: not sampled) and its rows written after the run.
extern TimeseriesWriter* g_timeseries;
extern int g_sample_interval_ms;

// Starts the error message of a run this process cannot give what it needs
// (a network namespace of its own, for kernel knobs or veth): not a failure
// of the run, so main's exit status leaves these out.
inline constexpr char kNotRunPrefix[] = "not run: ";

// Registers BM_Churn/<settings> for each scenario (one iteration each, real
// time) and returns the scenarios by registered name, for the CSV columns.
std::map<std::string, Scenario> RegisterChurnBenchmarks(
    const std::vector<Scenario>& matrix);

}  // namespace twbench
