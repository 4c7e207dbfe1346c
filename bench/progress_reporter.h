// The terminal display: one short line per run (rate, TIME_WAIT, rebind,
// errors) instead of Google Benchmark's table of thirty counters, so a long
// matrix shows its progress readably. Full numbers go to the CSV and JSON.
#pragma once

#include <benchmark/benchmark.h>

#include "twbench/run_context.h"

namespace twbench {

class ProgressReporter : public benchmark::BenchmarkReporter {
 public:
  ProgressReporter(RunContext context, int total_runs);
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;

 private:
  RunContext context_;
  int total_runs_;
  int done_ = 0;
};

}  // namespace twbench
