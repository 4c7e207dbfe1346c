// The project's own CSV writer (Google Benchmark's CSV reporter is deprecated,
// aborts when counter sets differ and carries no context): one row per run and
// per aggregate, settings and context as their own columns, every counter a
// column.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "twbench/run_context.h"
#include "twbench/scenario.h"

namespace twbench {

// The counters every churn benchmark reports, in column order.
const std::vector<std::string>& CounterColumns();

// Every column of the CSV, in order: identity, settings, counters, context.
std::vector<std::string> CsvColumns();

// Finds the scenario of a benchmark by its registered name (the part of the
// run name before "/iterations:..."); nullptr when unknown.
using ScenarioLookup = std::function<const Scenario*(const std::string&)>;

class CsvWriter {
 public:
  CsvWriter(std::ostream& out, RunContext context, ScenarioLookup lookup);
  void WriteHeader();
  // Writes one row and flushes, so a row measured is a row kept.
  void WriteRow(const benchmark::BenchmarkReporter::Run& run);

 private:
  std::ostream& out_;
  RunContext context_;
  ScenarioLookup lookup_;
};

// A display reporter that forwards to another (the console) and also writes
// every run as a CSV row, so JSON stays available through --benchmark_out.
class TeeCsvReporter : public benchmark::BenchmarkReporter {
 public:
  TeeCsvReporter(benchmark::BenchmarkReporter* display, CsvWriter* csv);
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  benchmark::BenchmarkReporter* display_;
  CsvWriter* csv_;
};

}  // namespace twbench
