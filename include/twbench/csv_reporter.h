// The project's own CSV writer (Google Benchmark's CSV reporter is deprecated,
// aborts when counter sets differ and carries no context): one row per run and
// per aggregate, settings and context as their own columns, every counter a
// column.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "twbench/run_context.h"
#include "twbench/scenario.h"

namespace twbench {

// The counter columns, in CSV order (columns.h has the whole table).
const std::vector<std::string>& CounterColumns();

// Every column of the CSV, in order: identity, settings, counters,
// real_time_s, context (the column table, columns.h).
std::vector<std::string> CsvColumns();

// One CSV field per RFC 4180: quoted when it holds a comma, a quote, CR or
// LF, with quotes doubled; as is otherwise.
std::string CsvField(std::string_view text);

// A number as a CSV cell: integral values without decimals ("10000"), others
// in the shortest form that reads back to the same double ("0.25", "1e-05");
// "nan", "inf", "-inf" for the non-finite.
std::string CsvNumber(double value);

// Finds the scenario of a benchmark by its registered name
// (run.run_name.function_name: the run name without "/iterations:...",
// "/repeats:...", "/real_time"); nullptr when unknown.
using ScenarioLookup = std::function<const Scenario*(const std::string&)>;

class CsvWriter {
 public:
  CsvWriter(std::ostream& out, RunContext context, ScenarioLookup lookup);
  void WriteHeader();
  // Writes one row and flushes, so a row measured is a row kept. Writes
  // nothing for complexity rows (BigO, RMS): they are fits, not runs.
  void WriteRow(const benchmark::BenchmarkReporter::Run& run);
  // Counters a run set that have no row in the column table (columns.h):
  // a bug, reported by the caller, never a silently dropped column.
  const std::set<std::string>& unknown_counters() const {
    return unknown_counters_;
  }

 private:
  // The cells read from counters that hold a setting, not a measurement
  // (isolated, port_range, then tw_reuse ... max_tw_buckets); aggregate rows
  // take them from their repetitions.
  std::vector<std::string> RepetitionContext(
      const benchmark::BenchmarkReporter::Run& run);

  std::ostream& out_;
  RunContext context_;
  ScenarioLookup lookup_;
  // Per run name: the cells its repetitions agree on.
  std::map<std::string, std::vector<std::string>> repetition_context_;
  std::set<std::string> unknown_counters_;
};

// A display reporter that forwards to another (the console) and also writes
// every run as a CSV row, so JSON stays available through --benchmark_out.
class TeeCsvReporter : public benchmark::BenchmarkReporter {
 public:
  // Borrows both; they must outlive the reporter.
  TeeCsvReporter(benchmark::BenchmarkReporter* display, CsvWriter* csv);
  // Writes the CSV header on the first call only.
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;
  // The error message of every run that ended in an error, in run order.
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  benchmark::BenchmarkReporter* display_;
  CsvWriter* csv_;
  std::vector<std::string> errors_;
  bool header_written_ = false;
};

}  // namespace twbench
