// twbench: registers the churn matrix from the command line, runs it through
// Google Benchmark, and writes every run as a CSV row the moment it ends.
#include <benchmark/benchmark.h>
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <string_view>
#include <vector>

#include "bm_baseline.h"
#include "bm_churn.h"
#include "flags.h"
#include "listing.h"
#include "probe.h"
#include "progress_reporter.h"
#include "spdlog/cfg/env.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "twbench/csv_reporter.h"
#include "twbench/fd_limit.h"
#include "twbench/netns.h"
#include "twbench/run_context.h"
#include "twbench/timeseries_writer.h"

namespace {

extern "C" void OnSigint(int) {
  // Async-signal-safe: a lock-free atomic store. SA_RESETHAND makes a second
  // Ctrl-C kill the process the usual way.
  twbench::g_interrupted.store(true);
}

void InstallSigint() {
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("twbench");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL wins over the flag
}

bool WantsHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a == "-h" || a == "--help" || a == "-help") return true;
  }
  return false;
}

int RepetitionsFromArgs(int argc, char** argv) {
  constexpr std::string_view kFlag = "--benchmark_repetitions=";
  int reps = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a.substr(0, kFlag.size()) == kFlag) {
      reps = std::max(1, std::atoi(argv[i] + kFlag.size()));
    }
  }
  return reps;
}

// How many runs the filter selects, for the "[3/24]" progress: the same
// regex match (with '-' negation) Google Benchmark applies to the names.
int CountSelected(const std::map<std::string, twbench::Scenario>& by_name) {
  std::string filter = benchmark::GetBenchmarkFilter();
  bool negate = !filter.empty() && filter[0] == '-';
  if (negate) filter.erase(0, 1);
  const bool all = filter.empty() || filter == "all";
  int n = 0;
  try {
    std::regex re(all ? std::string(1, '.') : filter);
    for (const auto& [name, s] : by_name) {
      std::string full = name;
      full.append("/iterations:1/real_time");  // as Google Benchmark names it
      bool hit = std::regex_search(full, re);
      n += hit != negate ? 1 : 0;
    }
  } catch (const std::regex_error&) {
    return static_cast<int>(by_name.size());
  }
  return n;
}

// Both ends of every connection are this process's fds: the run with the
// most connections in flight sets the open-file limit for all of them.
void RaiseFdLimitFor(const std::vector<twbench::Scenario>& matrix) {
  int most = 1;
  for (const twbench::Scenario& s : matrix)
    most = std::max(most, s.concurrency);
  twbench::RaiseFdLimitForConcurrency(most);
}

}  // namespace

// Runs that ended in an error make the exit status 1, after every row is
// written: a refused knob value, a listener port in use, a census that
// failed. Not the default matrix's knob and veth rows where runs get no
// namespace: those say why in their row and are expected there.
int FailedRunsStatus(const std::vector<std::string>& errors) {
  int failed = 0;
  const std::string* first = nullptr;
  for (const std::string& e : errors) {
    if (e.rfind(twbench::kNotRunPrefix, 0) == 0) continue;
    if (first == nullptr) first = &e;
    ++failed;
  }
  if (failed == 0) return 0;
  std::cerr << "twbench: " << failed << (failed == 1 ? " run" : " runs")
            << " ended in an error (the CSV's error column says why); the "
            << "first: " << *first << "\n";
  return 1;
}

int main(int argc, char** argv) {
  // The TIME_WAIT probe is no benchmark: it takes the command line whole.
  if (twbench::WantsProbe(argc, argv)) {
    InstallSigint();
    return twbench::RunProbeMain(argc, argv);
  }
  if (std::optional<int> status = twbench::MaybeList(argc, argv)) {
    return *status;
  }
  if (WantsHelp(argc, argv)) {
    twbench::PrintHelp();
    return 0;
  }
  const int repetitions = RepetitionsFromArgs(argc, argv);
  benchmark::Initialize(&argc, argv);
  twbench::Flags flags = twbench::ParseFlags(argc, argv);
  SetUpLogging(flags.log_level);

  std::ofstream csv_file;
  if (!flags.csv.empty()) {
    csv_file.open(flags.csv, std::ios::out | std::ios::trunc);
    if (!csv_file) {
      std::cerr << "twbench: --csv: cannot open " << flags.csv << " for "
                << "writing: " << std::strerror(errno) << "\n";
      return 2;
    }
  }
  // What every run shares, passed to the benchmarks explicitly.
  twbench::RunState run;
  run.stop = &twbench::g_interrupted;
  std::ofstream timeseries_file;
  std::optional<twbench::TimeseriesWriter> timeseries;
  if (!flags.timeseries.empty()) {
    timeseries_file.open(flags.timeseries, std::ios::out | std::ios::trunc);
    if (!timeseries_file) {
      std::cerr << "twbench: --timeseries: cannot open " << flags.timeseries
                << " for writing: " << std::strerror(errno) << "\n";
      return 2;
    }
    timeseries.emplace(timeseries_file);
    run.timeseries = &*timeseries;
    run.sample_interval_ms = flags.sample_interval_ms;
  }
  if (flags.isolate != "off") {
    if (twbench::CanCreateNetns()) {
      run.isolate = true;
    } else if (flags.isolate == "on") {
      std::cerr << "twbench: --isolate=on needs a network namespace per run, "
                << "and this process cannot make one: " << twbench::WhyNoNetns()
                << "\n";
      return 2;
    } else {
      std::cerr << "twbench: no network namespace per run ("
                << twbench::WhyNoNetns() << "); running in the host "
                << "namespace: TIME_WAIT counted on each run's ports, "
                << "earlier runs' TIME_WAIT in time_wait_at_start, tcpext_* "
                << "and sockstat_tw -1 (not per port), isolated=0 in every "
                << "row\n";
    }
  }
  if (!run.isolate) {
    // Knobs are never written into the host namespace, and veth needs two
    // namespaces: asked for explicitly, every such run could only fail.
    if (const std::string given = twbench::NamespaceOnlyFlags(flags);
        !given.empty()) {
      std::cerr << "twbench: " << given
                << (given.find(',') == std::string::npos ? " needs" : " need")
                << " a network namespace per run (kernel knobs are set "
                   "only in the run's own namespace), and ";
      if (flags.isolate == "off") {
        std::cerr << "--isolate=off runs in the host namespace";
      } else {
        std::cerr << "this process cannot make one: " << twbench::WhyNoNetns();
      }
      std::cerr << "; run as root without --isolate=off, or leave them out\n";
      return 2;
    }
  }
  const std::vector<twbench::Scenario> matrix = twbench::Matrix(flags);
  RaiseFdLimitFor(matrix);
  auto by_name = twbench::RegisterChurnBenchmarks(matrix, run);
  // The bare-epoll baseline beside its engine row (docs/speed.md).
  by_name.merge(twbench::RegisterBaselineBenchmarks(matrix, run));
  const twbench::RunContext context = twbench::RunContext::Collect();
  twbench::ProgressReporter progress(context,
                                     CountSelected(by_name) * repetitions);
  std::ostream null_stream(nullptr);
  twbench::CsvWriter csv(csv_file.is_open() ? csv_file : null_stream, context,
                         [&by_name](const std::string& name) {
                           auto it = by_name.find(name);
                           return it == by_name.end() ? nullptr : &it->second;
                         });
  twbench::TeeCsvReporter reporter(&progress, &csv);
  InstallSigint();
  const std::size_t runs = benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (runs == 0) {
    std::cerr << "twbench: no benchmark matches --benchmark_filter="
              << benchmark::GetBenchmarkFilter() << "\n";
    return 2;
  }
  if (!csv.unknown_counters().empty()) {
    // A counter without a row in the column table would be a lost column.
    std::cerr << "twbench: bug: counters not in the column table "
                 "(harness/columns.cpp), missing from the CSV:";
    for (const std::string& name : csv.unknown_counters()) {
      std::cerr << " " << name;
    }
    std::cerr << "\n";
    return 1;
  }
  if (twbench::g_interrupted.load()) {
    std::cerr << "twbench: interrupted; the runs measured so far are written\n";
    return 130;
  }
  return FailedRunsStatus(reporter.errors());
}
