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

// Registers one BM_Baseline (one iteration, real time) for each engine row of
// the matrix the baseline can run (WhyNotBaseline: loopback, payload 0, no
// kernel knob, restart or client binding; any closer, concurrency, family,
// loops, accept mode, client addresses), the engine rows that differ only in
// reuseaddr/reuseport sharing one. It takes that row's settings and budget
// (connections, time limit, connection timeout, backlog, pin). Its name is
// the row's name segments but reuseaddr and reuseport:
// BM_Baseline/closer:server/conc:64/payload:0/family:ipv4[/loops:2/accept:
// shared][/client_addrs:4], so a --benchmark_filter on a part of the engine
// row's name selects both. Returns the names and the scenarios describing
// them (for the CSV's settings columns).
std::map<std::string, Scenario> RegisterBaselineBenchmarks(
    const std::vector<Scenario>& matrix, const RunState& run);

}  // namespace twbench
