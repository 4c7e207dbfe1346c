// One churn run across the ranks of an MPI job (issue 11): the server rank
// listens and broadcasts its port, the client ranks churn their share of
// the budget and concurrency to it, every rank counts its own side in its
// own namespace, and rank 0 gathers them into the one row of the run.
#pragma once

#include "measure.h"
#include "run_state.h"
#include "twbench/scenario.h"

namespace twbench {

// Every rank calls it for every run, in the same order (the collectives
// pair up by order). Rank 0 returns the job's measurement (hosts = the
// job's size); the other ranks return their own side, which nobody reports.
// Runs the job cannot make (veth, knobs without --rank_netns, several
// client addresses) return an error on every rank before any collective.
Measured MeasureAcrossRanks(const Scenario& s, const RunState& run);

}  // namespace twbench
