// `twbench --probe=timewait`: the TIME_WAIT duration probe's command line.
// Runs the chosen cells (harness/timewait_probe.cpp) in parallel, each in a
// network namespace of its own when permitted, prints a progress line every
// ~5 s on stderr, a table on stdout and, with --csv, one CSV row per cell.
#pragma once

#include <ostream>

namespace twbench {

// Whether argv asks for a probe (--probe=... or --probe ...): then main
// hands the whole command line to RunProbeMain instead of Google Benchmark.
bool WantsProbe(int argc, char** argv);

// Parses the probe's settings, runs it and returns the exit status: 0 when
// every cell ran to its end (bound or still failing), 1 when a cell hit an
// error, 2 on bad input, 128+n after signal n (SIGINT, SIGTERM, SIGHUP, SIGQUIT
// through g_interrupted; what was measured is still written).
int RunProbeMain(int argc, char** argv);

// The help of the probe's settings.
void PrintProbeHelp(std::ostream& out);

}  // namespace twbench
