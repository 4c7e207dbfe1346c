// The churn engine: a server loop and a client loop, each a uv_loop_t on its
// own thread, open and close connections as the scenario says.
#pragma once

#include <atomic>

#include "twbench/churn_stats.h"
#include "twbench/scenario.h"

namespace twbench {

// Runs the scenario to its budget and returns what it measured. Failures of
// single connections are counted in the stats; a run that cannot go on
// (listener setup failed) returns with `fatal` set. `stop`, when given and set
// by another thread (e.g. on SIGINT), ends the run early like its time limit.
// Every handle is closed and both loops close cleanly before it returns.
ChurnStats RunChurn(const Scenario& scenario,
                    const std::atomic<bool>* stop = nullptr);

}  // namespace twbench
