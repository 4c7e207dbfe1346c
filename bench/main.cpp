// twbench: registers the churn matrix from the command line, runs it through
// Google Benchmark, and writes every run as a CSV row the moment it ends.
#include <benchmark/benchmark.h>
#include <regex.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bm_baseline.h"
#include "bm_churn.h"
#include "file_reporter.h"
#include "flags.h"
#include "gbench_flags.h"
#include "hosts_writer.h"
#include "listing.h"
#include "mpi_job.h"
#include "probe.h"
#include "progress_reporter.h"
#include "spdlog/cfg/env.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "stop_signal.h"
#include "twbench/csv_reporter.h"
#include "twbench/fd_limit.h"
#include "twbench/netns.h"
#include "twbench/output_file.h"
#include "twbench/run_context.h"
#include "twbench/timeseries_writer.h"

namespace {

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

// How many runs the filter selects, for the "[3/24]" progress: the match
// Google Benchmark applies to the names, a POSIX extended regex searched in
// the full name ('-' first negates; empty or "all" is every name).
int CountSelected(const std::map<std::string, twbench::Scenario>& by_name) {
  const std::string filter = benchmark::GetBenchmarkFilter();
  const bool all = filter.empty() || filter == "all";
  const bool negate = !all && filter[0] == '-';
  const std::string pattern = all ? std::string(1, '.') : filter.substr(negate);
  regex_t re;
  if (regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
    return static_cast<int>(by_name.size());  // checked up front; not reached
  }
  int n = 0;
  for (const auto& [name, s] : by_name) {
    const std::string full = name + "/iterations:1/real_time";  // GB's name
    const bool hit = regexec(&re, full.c_str(), 0, nullptr, 0) == 0;
    n += hit != negate ? 1 : 0;
  }
  regfree(&re);
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

namespace {

// Every results file is checked before anything runs and opened through the
// checked path; nullopt and a message (exit 2) when one cannot be.
struct Outputs {
  std::unique_ptr<twbench::OutputFile> csv;
  std::unique_ptr<twbench::OutputFile> timeseries;
  std::unique_ptr<twbench::OutputFile> hosts;  // MPI job: <stem>.hosts.csv
};

// Rank 0 of an MPI job with --csv=out.csv also writes out.hosts.csv, one
// row per rank and run; false, said, when it cannot be opened.
bool OpenHostsCsv(const std::string& csv, Outputs& out) {
  const bool dot_csv = csv.size() > 4 && csv.ends_with(".csv");
  const std::string path =
      (dot_csv ? csv.substr(0, csv.size() - 4) : csv) + ".hosts.csv";
  std::string why;
  out.hosts = twbench::OutputFile::Open("--csv", path, &why);
  if (!out.hosts) std::cerr << "twbench: " << why << "\n";
  return out.hosts != nullptr;
}

std::optional<Outputs> OpenOutputs(const twbench::Flags& flags,
                                   const std::string& benchmark_out) {
  if (const auto clash =
          twbench::CheckOutputPaths({{"--csv", flags.csv},
                                     {"--timeseries", flags.timeseries},
                                     {"--benchmark_out", benchmark_out}})) {
    std::cerr << "twbench: " << *clash << "\n";
    return std::nullopt;
  }
  Outputs out;
  std::string why;
  if (!flags.csv.empty()) {
    out.csv = twbench::OutputFile::Open("--csv", flags.csv, &why);
    if (!out.csv) {
      std::cerr << "twbench: " << why << "\n";
      return std::nullopt;
    }
  }
  if (!flags.timeseries.empty()) {
    out.timeseries =
        twbench::OutputFile::Open("--timeseries", flags.timeseries, &why);
    if (!out.timeseries) {
      std::cerr << "twbench: " << why << "\n";
      return std::nullopt;
    }
  }
  return out;
}

// Closes every results file (each close checked); 1 when any write failed,
// each failure said once more at the end, where it is seen.
int CloseOutputs(Outputs& outputs) {
  int status = 0;
  for (auto* file :
       {outputs.csv.get(), outputs.timeseries.get(), outputs.hosts.get()}) {
    if (file == nullptr || file->Close()) continue;
    std::cerr << "twbench: results incomplete: " << file->error() << "\n";
    status = 1;
  }
  return status;
}

// The status after a stop signal: 128+n, said with the signal's name.
int InterruptedStatus() {
  const int signal = twbench::StopSignal();
  // A rank of an MPI job other than 0 said so already; rank 0 writes.
  if (twbench::QuietRank()) return 128 + signal;
  std::cerr << "twbench: interrupted by " << twbench::SignalName(signal)
            << "; the runs measured so far are written, the others say "
            << "skipped\n";
  return 128 + signal;
}

// The probe, the listings, --help and bad Google Benchmark flags: each ends
// the process before any benchmark is set up; nullopt for a benchmark run.
std::optional<int> EarlyExit(int argc, char** argv) {
  // The TIME_WAIT probe is no benchmark: it takes the command line whole.
  if (twbench::WantsProbe(argc, argv)) {
    return twbench::RunProbeMain(argc, argv);
  }
  if (std::optional<int> status = twbench::MaybeList(argc, argv)) {
    return status;
  }
  if (WantsHelp(argc, argv)) {
    twbench::PrintHelp();
    return 0;
  }
  if (const auto bad = twbench::CheckGbenchFlags(argc, argv)) {
    std::cerr << "twbench: " << *bad << "\n"
              << "Run 'twbench --help' for every setting and what it "
              << "accepts.\n";
    return 2;
  }
  return std::nullopt;
}

// Google Benchmark 1.7.1 reserves its list of runs one family at a time
// when the filter is ".", every name (FindBenchmarks): a copy of the whole
// list per name, quadratic. "^" selects the same names without it. Returns
// the filter as given, for messages.
std::string MakeFilterLinear() {
  const std::string filter = benchmark::GetBenchmarkFilter();
  if (filter.empty() || filter == "all" || filter == ".") {
    benchmark::SetBenchmarkFilter("^");
  }
  return filter;
}

// Whether runs get a network namespace of their own (run.isolate); 2, said
// why, when flags ask for what this process cannot give, else 0.
int SetUpIsolation(const twbench::Flags& flags, twbench::RunState& run) {
  if (flags.isolate != "off") {
    if (twbench::CanCreateNetns()) {
      run.isolate = true;
      return 0;
    }
    if (flags.isolate == "on") {
      std::cerr << "twbench: --isolate=on needs a network namespace per run, "
                << "and this process cannot make one: " << twbench::WhyNoNetns()
                << "\n";
      return 2;
    }
    std::cerr << "twbench: no network namespace per run ("
              << twbench::WhyNoNetns() << "); running in the host "
              << "namespace: TIME_WAIT counted on each run's ports, "
              << "earlier runs' TIME_WAIT in time_wait_at_start, tcpext_* "
              << "and sockstat_tw -1 (not per port), isolated=0 in every "
              << "row\n";
  }
  // Knobs are never written into the host namespace, and veth needs two
  // namespaces: asked for explicitly, every such run could only fail.
  const std::string given = twbench::NamespaceOnlyFlags(flags);
  if (given.empty()) return 0;
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

// 1, said, when a run set a counter the column table lacks: it would be a
// column lost from the CSV.
int UnknownCountersStatus(const twbench::CsvWriter& csv) {
  if (csv.unknown_counters().empty()) return 0;
  std::cerr << "twbench: bug: counters not in the column table "
               "(harness/columns.cpp), missing from the CSV:";
  for (const std::string& name : csv.unknown_counters()) {
    std::cerr << " " << name;
  }
  std::cerr << "\n";
  return 1;
}

// Where this rank's runs go in an MPI job (--rank_netns, --server_addr).
struct MpiPlace {
  std::optional<twbench::mpi::Job> job;
  twbench::NetNamespace rank_netns;  // invalid: the launch namespace
};

// "/run/netns/twb%r" for rank 2: "/run/netns/twb2".
std::string RankPath(std::string pattern, int rank) {
  for (std::size_t at; (at = pattern.find("%r")) != std::string::npos;) {
    pattern.replace(at, 2, std::to_string(rank));
  }
  return pattern;
}

// Opens this rank's namespace and checks that clients can reach the server:
// 0, or 2 on every rank with the reason said once.
int PlaceRank(const twbench::Flags& flags, MpiPlace* place) {
  const twbench::mpi::Job& job = *place->job;
  std::string why;
  if (!flags.rank_netns.empty()) {
    place->rank_netns =
        twbench::NetNamespace::Open(RankPath(flags.rank_netns, job.rank), &why);
  }
  const bool opened = twbench::mpi::AllAgree(why.empty());
  if (!why.empty()) {
    std::cerr << "twbench: rank " << job.rank << ": --rank_netns: " << why
              << "\n";
  }
  if (!opened) return 2;
  if (!flags.server_addr.empty()) return 0;
  why = !flags.rank_netns.empty()
            ? "--rank_netns puts the ranks in namespaces of their own"
            : "the ranks do not all run on one host in one namespace";
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  if (flags.rank_netns.empty() &&
      twbench::mpi::SameOnEveryRank(std::string(host) + " " +
                                    twbench::CurrentNetnsId())) {
    return 0;  // the server rank's loopback reaches it
  }
  if (job.rank == 0) {
    std::cerr << "twbench: --server_addr is needed: " << why
              << ", so the server rank's loopback does not reach it\n";
  }
  return 2;
}

// Launched by mpirun or srun: joins the job, checks that every rank was
// given the same flags, reads the roles and places the rank. nullopt to go
// on (place->job set when in a job); else the exit status, the same on
// every rank.
std::optional<int> JoinMpiJob(const twbench::Flags& flags,
                              const std::vector<std::string>& args,
                              MpiPlace* place) {
  if (!twbench::mpi::LaunchedByMpi()) {
    // One process runs both ends: the MPI mode's flags would do nothing.
    for (const auto& [name, value] :
         {std::pair{"--server_addr", &flags.server_addr},
          std::pair{"--rank_netns", &flags.rank_netns},
          std::pair{"--roles", &flags.roles}}) {
      if (value->empty()) continue;
      std::cerr << "twbench: " << name
                << " is for the MPI mode (twbench launched by mpirun or srun, "
                   "docs/hosts.md); this process was not, and runs both "
                   "ends itself\n";
      return 2;
    }
    return std::nullopt;
  }
  std::string why;
  std::optional<twbench::mpi::Job> job = twbench::mpi::Join(&why);
  if (!job) {
    std::cerr << "twbench: started by an MPI launcher, but " << why << "\n";
    return 2;
  }
  int status = 0;
  if (std::string differ = twbench::mpi::CheckFlagsAgree(*job, args);
      !differ.empty()) {
    if (job->rank == 0) std::cerr << "twbench: " << differ << "\n";
    status = 2;
  } else if (!twbench::mpi::AssignRoles(&*job, flags.roles, &why)) {
    if (job->rank == 0) std::cerr << "twbench: " << why << "\n";
    status = 2;
  } else if (!flags.timeseries.empty()) {
    // Each rank would sample its own host on its own clock; merging those
    // into one series is not built, and a file with no samples would lie.
    if (job->rank == 0) {
      std::cerr << "twbench: --timeseries is not built for MPI jobs yet: "
                   "leave it out, or sample one process (no mpirun)\n";
    }
    status = 2;
  } else {
    place->job = std::move(job);
    status = PlaceRank(flags, place);
    if (status == 0) return std::nullopt;
  }
  twbench::mpi::Leave();
  return status;
}

// Ranks other than 0 run every benchmark in lockstep and report nothing:
// rank 0 writes the rows of the whole job.
class SilentReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override {
    twbench::EnterRunPhase();
    return true;
  }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  // First of all: a signal during the set-up ends it the documented way.
  twbench::InstallStopSignals();
  if (std::optional<int> status = EarlyExit(argc, argv)) return *status;
  // As given, before Google Benchmark takes its flags out: every rank of an
  // MPI job must have been given the same.
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int repetitions = RepetitionsFromArgs(argc, argv);
  const std::string benchmark_out =
      twbench::GbenchFlag(argc, argv, "benchmark_out", "");
  const std::string benchmark_out_format =
      twbench::GbenchFlag(argc, argv, "benchmark_out_format", "json");
  benchmark::Initialize(&argc, argv);
  const std::string filter = MakeFilterLinear();
  twbench::Flags flags = twbench::ParseFlags(argc, argv);
  SetUpLogging(flags.log_level);
  MpiPlace mpi;
  if (std::optional<int> status = JoinMpiJob(flags, args, &mpi)) {
    return *status;
  }
  // Once in a job, every way out leaves it.
  struct LeaveJob {
    bool joined;
    ~LeaveJob() {
      if (joined) twbench::mpi::Leave();
    }
  } leave_job{mpi.job.has_value()};
  // Rank 0 writes the job's rows; the other ranks write nothing.
  const bool reporting = !mpi.job || mpi.job->rank == 0;
  if (!reporting) twbench::SetQuietRank(mpi.job->rank);

  // What every run shares, passed to the benchmarks explicitly.
  twbench::RunState run;
  run.stop = &twbench::g_interrupted;
  if (mpi.job) {
    // The ranks' namespaces are the job's (--rank_netns), not one per run.
    run.job = &*mpi.job;
    run.rank_netns = mpi.rank_netns.valid() ? &mpi.rank_netns : nullptr;
    run.server_addr = flags.server_addr;
  } else if (int status = SetUpIsolation(flags, run); status != 0) {
    return status;
  }
  std::optional<Outputs> outputs =
      reporting ? OpenOutputs(flags, benchmark_out) : Outputs{};
  if (outputs && mpi.job && outputs->csv &&
      !OpenHostsCsv(flags.csv, *outputs)) {
    outputs.reset();
  }
  if (mpi.job && !twbench::mpi::AllAgree(outputs.has_value())) return 2;
  if (!outputs) return 2;
  std::optional<twbench::HostsWriter> hosts;
  if (outputs->hosts) {
    hosts.emplace(outputs->hosts->stream());
    run.hosts = &*hosts;
  }
  std::optional<twbench::TimeseriesWriter> timeseries;
  if (outputs->timeseries) {
    timeseries.emplace(outputs->timeseries->stream());
    run.timeseries = &*timeseries;
    run.sample_interval_ms = flags.sample_interval_ms;
  }
  const std::vector<twbench::Scenario> matrix = twbench::Matrix(flags);
  RaiseFdLimitFor(matrix);
  auto by_name = twbench::RegisterChurnBenchmarks(matrix, run);
  // The bare-epoll baseline beside its engine row (docs/speed.md); one
  // process's, so not in an MPI job.
  if (!mpi.job) {
    by_name.merge(twbench::RegisterBaselineBenchmarks(matrix, run));
  }
  const twbench::RunContext context = twbench::RunContext::Collect();
  twbench::ProgressReporter progress(context,
                                     CountSelected(by_name) * repetitions);
  std::ostream null_stream(nullptr);
  twbench::CsvWriter csv(outputs->csv ? outputs->csv->stream() : null_stream,
                         context, [&by_name](const std::string& name) {
                           auto it = by_name.find(name);
                           return it == by_name.end() ? nullptr : &it->second;
                         });
  twbench::TeeCsvReporter reporter(&progress, &csv);
  SilentReporter silent;
  std::optional<twbench::CheckedFileReporter> json;
  if (!benchmark_out.empty() && reporting) {
    json.emplace(benchmark_out_format, benchmark_out);
  }
  const std::size_t runs = benchmark::RunSpecifiedBenchmarks(
      reporting ? static_cast<benchmark::BenchmarkReporter*>(&reporter)
                : &silent,
      json ? &*json : nullptr);
  benchmark::Shutdown();
  int written = CloseOutputs(*outputs);
  if (json && !json->error().empty()) {
    std::cerr << "twbench: results incomplete: " << json->error() << "\n";
    written = 1;
  }
  const int status = [&] {
    if (twbench::StopSignal() != 0) return InterruptedStatus();
    if (runs == 0) {
      std::cerr << "twbench: no benchmark matches --benchmark_filter=" << filter
                << "\n";
      return 2;
    }
    if (int unknown = UnknownCountersStatus(csv); unknown != 0) return unknown;
    const int failed = FailedRunsStatus(reporter.errors());
    return failed != 0 ? failed : written;
  }();
  // Every rank ends with rank 0's verdict: one rank's non-zero exit makes
  // mpirun kill the ranks still leaving the job.
  // After a stop signal the other ranks are gone or going: no collective,
  // no MPI_Finalize (LeaveJob), just this rank's status; a rank other than
  // 0 stays until mpirun ends it, so that rank 0 can write (stop_signal.h).
  if (mpi.job && twbench::mpi::Interrupted()) {
    if (twbench::QuietRank()) twbench::LingerForRank0();
    return status;
  }
  return mpi.job ? twbench::mpi::Largest(status) : status;
}
