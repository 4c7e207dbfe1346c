#include "twbench/csv_reporter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

#include "twbench/columns.h"
#include "twbench/settings.h"

namespace twbench {
namespace {

using Run = benchmark::BenchmarkReporter::Run;

std::string Integer(std::int64_t value) { return std::to_string(value); }

std::string Flag(bool value) { return value ? "1" : "0"; }

void AppendIdentity(const Run& run, std::vector<std::string>& cells) {
  const bool aggregate = run.run_type == Run::RT_Aggregate;
  cells.push_back(run.run_name.str());
  cells.push_back(aggregate ? "aggregate" : "iteration");
  cells.push_back(aggregate ? run.aggregate_name : "");
  cells.push_back(aggregate || run.repetition_index == Run::no_repetition_index
                      ? ""
                      : Integer(run.repetition_index));
  cells.push_back(Integer(run.repetitions));
  cells.push_back(run.error_occurred ? run.error_message : "");
  cells.push_back(run.report_label);
}

void AppendSettings(const Scenario* scenario, std::vector<std::string>& cells) {
  if (scenario == nullptr) {
    cells.insert(cells.end(), SettingColumns().size(), "");
    return;
  }
  const std::vector<std::string> settings = SettingCells(*scenario);
  cells.insert(cells.end(), settings.begin(), settings.end());
}

// Seconds per iteration, as GB's GetAdjustedRealTime computes it but without
// the display unit. Aggregates hold the statistic in real_accumulated_time,
// already scaled so that dividing by iterations gives per-iteration time;
// a percentage statistic (cv) is a plain ratio and must not be divided.
std::string RealTimeSeconds(const Run& run) {
  // The run stopped early; its time measures nothing the row claims.
  if (run.error_occurred) return "";
  if (run.run_type == Run::RT_Aggregate &&
      run.aggregate_unit == benchmark::kPercentage) {
    return CsvNumber(run.real_accumulated_time);
  }
  if (run.iterations == 0) return CsvNumber(run.real_accumulated_time);
  return CsvNumber(run.real_accumulated_time /
                   static_cast<double>(run.iterations));
}

// Counters that hold a kernel setting in force during the run (read back),
// not a measurement: their statistic over repetitions (a stddev of 0) would
// misstate the setting, so aggregate rows take them from the repetitions.
const std::vector<std::string>& InForceCounters() {
  static const std::vector<std::string> names = {
      "tw_reuse", "tw_reuse_delay_ms", "port_min", "port_max",
      "max_tw_buckets"};
  return names;
}

// The context cells that come from a run's counters: isolated, port_range.
std::vector<std::string> CounterContext(const Run& run) {
  std::vector<std::string> cells;
  // Isolation is decided per run (a namespace may fail to be made), so it
  // comes from the run's own "isolated" counter; empty when not reported.
  const auto it = run.counters.find("isolated");
  cells.push_back(it == run.counters.end() ? "" : Flag(it->second.value != 0));
  // ip_local_port_range in force, as sysctl spells it: "32768-60999".
  const auto lo = run.counters.find("port_min");
  const auto hi = run.counters.find("port_max");
  cells.push_back(lo == run.counters.end() || hi == run.counters.end()
                      ? ""
                      : CsvNumber(lo->second) + "-" + CsvNumber(hi->second));
  return cells;
}
constexpr std::size_t kCounterContextCells = 2;  // isolated, port_range

// The cells an aggregate takes from its repetitions: the counter context,
// then the in-force counters in InForceCounters() order.
std::vector<std::string> InvariantCells(const Run& run) {
  std::vector<std::string> cells = CounterContext(run);
  for (const std::string& name : InForceCounters()) {
    const auto it = run.counters.find(name);
    cells.push_back(it == run.counters.end() ? "" : CsvNumber(it->second));
  }
  return cells;
}

void AppendContext(const RunContext& context,
                   const std::vector<std::string>& counter_context,
                   std::vector<std::string>& cells) {
  cells.push_back(context.kernel);
  cells.push_back(context.libuv_version);
  cells.push_back(context.git_commit);
  cells.push_back(context.host);
  cells.push_back(context.utc);
  cells.insert(cells.end(), counter_context.begin(), counter_context.end());
}

void WriteLine(std::ostream& out, const std::vector<std::string>& cells) {
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i != 0) out << ',';
    out << CsvField(cells[i]);
  }
  out << '\n';
}

}  // namespace

const std::vector<std::string>& CounterColumns() {
  static const std::vector<std::string> columns =
      ColumnNames(ColumnGroup::kCounter);
  return columns;
}

std::vector<std::string> CsvColumns() {
  std::vector<std::string> columns;
  for (const Column& c : Columns()) {
    if (c.group != ColumnGroup::kJsonOnly) columns.emplace_back(c.name);
  }
  return columns;
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(text);
  }
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string CsvNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // 2^63: beyond it the cast to int64 is undefined; such values print fine
  // in the shortest form below.
  constexpr double kInt64Limit = 9223372036854775808.0;
  if (std::trunc(value) == value && std::fabs(value) < kInt64Limit) {
    return std::to_string(static_cast<std::int64_t>(value));
  }
  char buffer[64];
  char* const end = buffer + sizeof(buffer);
  // Fixed notation reads best for rates and latencies; tiny and huge values
  // would need long runs of zeros, so they take the shortest form (1e-05).
  const double magnitude = std::fabs(value);
  const std::to_chars_result result =
      magnitude >= 1e-4 && magnitude < 1e16
          ? std::to_chars(buffer, end, value, std::chars_format::fixed)
          : std::to_chars(buffer, end, value);
  return std::string(buffer, result.ptr);
}

CsvWriter::CsvWriter(std::ostream& out, RunContext context,
                     ScenarioLookup lookup)
    : out_(out), context_(std::move(context)), lookup_(std::move(lookup)) {}

void CsvWriter::WriteHeader() {
  WriteLine(out_, CsvColumns());
  out_.flush();
}

void CsvWriter::WriteRow(const Run& run) {
  if (run.report_big_o || run.report_rms) return;
  for (const auto& [name, counter] : run.counters) {
    if (!IsKnownCounter(name)) unknown_counters_.insert(name);
  }
  std::vector<std::string> cells;
  AppendIdentity(run, cells);
  const Scenario* scenario =
      lookup_ ? lookup_(run.run_name.function_name) : nullptr;
  AppendSettings(scenario, cells);
  const std::vector<std::string> invariant = RepetitionContext(run);
  const std::vector<std::string>& in_force = InForceCounters();
  for (const std::string& name : CounterColumns()) {
    const auto known = std::find(in_force.begin(), in_force.end(), name);
    if (known != in_force.end()) {
      cells.push_back(
          invariant[kCounterContextCells +
                    static_cast<std::size_t>(known - in_force.begin())]);
      continue;
    }
    const auto it = run.counters.find(name);
    cells.push_back(it == run.counters.end() ? "" : CsvNumber(it->second));
  }
  cells.push_back(RealTimeSeconds(run));
  AppendContext(
      context_,
      std::vector<std::string>(invariant.begin(),
                               invariant.begin() + kCounterContextCells),
      cells);
  WriteLine(out_, cells);
  out_.flush();
}

// An aggregate's counters hold the statistic: the stddev and cv of a constant
// "isolated", port range or tcp_tw_reuse are 0, which would read "not
// isolated", "0-0" and "reuse off". So aggregates take these cells from their
// repetitions (blank when the repetitions differ), or from the first
// aggregate, the mean, when the repetitions were not reported
// (--benchmark_report_aggregates_only).
std::vector<std::string> CsvWriter::RepetitionContext(const Run& run) {
  std::vector<std::string> cells = InvariantCells(run);
  if (run.error_occurred) return cells;  // no counters: would blank the rest
  const auto [it, first] =
      repetition_context_.try_emplace(run.run_name.str(), cells);
  if (run.run_type == Run::RT_Aggregate) return it->second;
  if (!first) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (it->second[i] != cells[i]) it->second[i].clear();
    }
  }
  return cells;
}

TeeCsvReporter::TeeCsvReporter(benchmark::BenchmarkReporter* display,
                               CsvWriter* csv)
    : display_(display), csv_(csv) {}

bool TeeCsvReporter::ReportContext(const Context& context) {
  if (!header_written_) {
    csv_->WriteHeader();
    header_written_ = true;
  }
  return display_->ReportContext(context);
}

void TeeCsvReporter::ReportRuns(const std::vector<Run>& runs) {
  display_->ReportRuns(runs);
  for (const Run& run : runs) {
    csv_->WriteRow(run);
    if (run.error_occurred && run.run_type == Run::RT_Iteration) {
      errors_.push_back(run.error_message);
    }
  }
}

void TeeCsvReporter::Finalize() { display_->Finalize(); }

}  // namespace twbench
