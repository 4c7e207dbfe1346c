// The counters every benchmark row takes from a ChurnStats, the engine's and
// the bare-epoll baseline's alike, so the two rows read the same way.
#pragma once

#include <benchmark/benchmark.h>

#include "twbench/churn_stats.h"

namespace twbench {

// Sets connections, attempted, accepted, connected, seconds, conn_per_s,
// bind_failures, the errno counters (eaddrinuse ... emfile), the per-step
// error counts, errors_total, resets, unfinished, the latency percentiles
// and server_port (results/README.md has each).
void SetRunCounters(benchmark::UserCounters& c, const ChurnStats& st);

}  // namespace twbench
