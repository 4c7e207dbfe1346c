// BM_Churn: one churn run per iteration, its stats and the socket census
// turned into the counters every churn benchmark reports.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "run_state.h"
#include "twbench/scenario.h"

namespace twbench {

// Set by a stop signal (stop_signal.h; a handler can only reach a global):
// the running churn stops like at its time limit and every benchmark after it
// is skipped, so what was measured is still written. Runs see it through
// RunState::stop.
extern std::atomic<bool> g_interrupted;

// Registers BM_Churn/<settings> for each scenario (one iteration each, real
// time) and returns the scenarios by registered name, for the CSV columns.
// `run` must outlive the benchmarks' runs.
std::map<std::string, Scenario> RegisterChurnBenchmarks(
    const std::vector<Scenario>& matrix, const RunState& run);

}  // namespace twbench
