// The signals that end twbench (SIGINT, SIGTERM, SIGHUP, SIGQUIT) and how
// each phase answers them. Set-up and listing (before the first run): there
// is nothing measured, so the handler says which signal and exits 128+n at
// once, however long the set-up would still take. Runs: the run in flight
// stops like at its time limit, the runs after it are skipped with a row
// naming the signal, every row is written, and main exits 128+n. A second
// signal of the same kind ends the process the default way. SIGPIPE is
// ignored: a closed stdout stops the printing (EPIPE), not the writing of
// the results files.
#pragma once

#include <string>

namespace twbench {

// Installs the handlers; call first thing in main.
void InstallStopSignals();

// From here on a signal stops the runs instead of ending the process: call
// when the first run is about to start.
void EnterRunPhase();

// An MPI job's rank that writes no rows (not rank 0). Before the runs a
// signal ends it at once, saying so. In the runs it stops its run like
// rank 0 and says so; main then keeps it alive a while (LingerForRank0)
// before it exits, because mpirun, ending a job, sends every rank SIGTERM
// and kills them all the moment one exits: rank 0 needs that moment to
// write the row of the run in flight and the skipped ones.
void SetQuietRank(int rank);
bool QuietRank();
// At most kLingerS seconds; mpirun's SIGKILL (1 s after its SIGTERM by
// default, odls_base_sigkill_timeout) or rank 0's exit usually ends it first.
inline constexpr double kLingerS = 5.0;
void LingerForRank0();

// The first signal received, 0 when none.
int StopSignal();

// "SIGTERM" for SIGTERM; "signal N" for one without a name here.
std::string SignalName(int signal);

// The error of a run skipped after a signal: "skipped: interrupted (SIGTERM)".
std::string InterruptedMessage();

}  // namespace twbench
