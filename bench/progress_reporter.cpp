#include "progress_reporter.h"

#include <fmt/format.h>

#include <ostream>
#include <string>

#include "stop_signal.h"

namespace twbench {
namespace {

double Counter(const benchmark::BenchmarkReporter::Run& run, const char* name) {
  auto it = run.counters.find(name);
  return it == run.counters.end() ? 0 : it->second.value;
}

}  // namespace

ProgressReporter::ProgressReporter(RunContext context, int total_runs)
    : context_(std::move(context)), total_runs_(total_runs) {}

bool ProgressReporter::ReportContext(const Context& context) {
  // The first run starts next: from here a signal stops the runs and keeps
  // their rows instead of ending the set-up.
  EnterRunPhase();
  std::ostream& out = GetOutputStream();
  out << "twbench " << context_.git_commit << " on " << context_.host
      << ": Linux " << context_.kernel << ", libuv " << context_.libuv_version
      << ", " << context.cpu_info.num_cpus << " CPUs, " << context_.utc << "\n";
  return true;
}

void ProgressReporter::ReportRuns(const std::vector<Run>& runs) {
  std::ostream& out = GetOutputStream();
  for (const Run& run : runs) {
    if (run.run_type == Run::RT_Aggregate) {
      // cv is a fraction: shown in percent, the others in their units.
      const bool cv = run.aggregate_name == "cv";
      if (run.aggregate_name != "mean" && !cv) continue;
      out << "      " << run.benchmark_name() << "  "
          << (cv ? fmt::format("conn/s {:.1f}%  TIME_WAIT {:.1f}%",
                               100 * Counter(run, "conn_per_s"),
                               100 * Counter(run, "time_wait"))
                 : fmt::format("{:.0f} conn/s  TIME_WAIT {:.0f}",
                               Counter(run, "conn_per_s"),
                               Counter(run, "time_wait")))
          << "\n";
      continue;
    }
    ++done_;
    out << "[" << done_ << "/" << total_runs_ << "] " << run.benchmark_name();
    if (run.error_occurred) {
      out << "  ERROR: " << run.error_message << "\n";
      continue;
    }
    // A benchmark without a census (BM_Baseline) shows "-", not 0.
    const bool census = run.counters.count("time_wait") != 0;
    out << fmt::format(
               "  {:.0f} conn/s  TIME_WAIT {}  errors {:.0f}  p99 {:.0f} us",
               Counter(run, "conn_per_s"),
               census ? fmt::format("{:.0f}", Counter(run, "time_wait")) : "-",
               Counter(run, "errors_total"), Counter(run, "lat_p99_us"))
        << "  " << run.report_label << "\n";
  }
  out.flush();
}

}  // namespace twbench
