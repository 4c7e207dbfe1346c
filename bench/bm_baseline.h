// BM_Baseline: the bare-epoll churn (twbench/baseline_churn.h) as a benchmark
// of its own, run beside the engine row it is the baseline of, so that the
// ratio of the two rates is measured on the same machine in the same run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "run_state.h"
#include "twbench/scenario.h"

namespace twbench {

// Registers BM_Baseline/closer:server/conc:64/payload:0/family:ipv4 (one
// iteration, real time) when the matrix holds the engine row it measures the
// overhead of: loopback, closer=server, conc=64, payload=0, family=ipv4, no
// kernel knob, restart or client binding. It takes that row's budget
// (connections, time limit, connection timeout, backlog). Returns its name
// and a scenario describing it (for the CSV's settings columns); empty when
// not registered. The name shares "closer:server/conc:64/payload:0" with the
// engine rows, so a --benchmark_filter on that selects both.
std::map<std::string, Scenario> RegisterBaselineBenchmarks(
    const std::vector<Scenario>& matrix, const RunState& run);

}  // namespace twbench
