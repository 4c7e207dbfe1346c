#include "probe.h"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bm_churn.h"
#include "stop_signal.h"
#include "twbench/csv_reporter.h"
#include "twbench/netns.h"
#include "twbench/output_file.h"
#include "twbench/run_context.h"
#include "twbench/timewait_probe.h"

namespace twbench {
namespace {

constexpr double kProgressEvery_s = 5;

struct ProbeFlags {
  std::string probe;
  std::string bound = "90";
  double bound_s = 90;
  std::string cells = "all";
  std::string family = "ipv4";
  std::string isolate = "auto";
  std::string csv;
  std::string log_level = "warn";  // accepted for symmetry; the probe logs none
};

std::optional<double> ParseSeconds(const std::string& text) {
  std::istringstream in(text);
  double v = 0;
  if (!(in >> v) || !in.eof() || !std::isfinite(v) || v <= 0 || v > 86400) {
    return std::nullopt;
  }
  return v;
}

void Describe(CLI::App& app, ProbeFlags& f) {
  app.description(
      "twbench --probe=timewait: how long a TIME_WAIT keeps a listener's port "
      "from\nbeing bound again. Per cell (old listener SO_REUSEADDR x new "
      "socket\nSO_REUSEADDR x old listener kept open or closed): one TIME_WAIT "
      "by a\nserver-first close, then socket/setsockopt/bind/listen on the "
      "same port every\n10 ms until it works or --probe_bound strikes. Cells "
      "run in parallel, each in\na network namespace of its own when "
      "permitted.");
  app.footer(
      "Output: a table on stdout (seconds from the TIME_WAIT's birth to the "
      "first\nbind+listen that worked, or to the last try), a progress line "
      "every ~5 s on\nstderr, one CSV row per cell with --csv "
      "(docs/timewait-probe.md). Exit 0\nwhen every cell ran to its end "
      "(bound or still_failing), 1 on a cell error,\n2 on bad input, 128+n "
      "after signal n (130: Ctrl-C; cells not finished say interrupted).");
  app.option_defaults()->always_capture_default();
  app.add_option("--probe", f.probe, "the probe to run: timewait")
      ->required()
      ->check(CLI::IsMember({"timewait"}));
  app.add_option("--probe_bound", f.bound,
                 "seconds from the TIME_WAIT's birth after which a cell gives "
                 "up (still_failing); > 0")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            if (ParseSeconds(text)) return {};
            return "'" + text +
                   "' is not a number of seconds > 0 and <= 86400 (e.g. 90)";
          },
          "SECONDS"));
  app.add_option("--probe_cells", f.cells,
                 "cells to run: all, or a comma-separated list of "
                 "OLD/NEW/LISTENER with OLD, NEW = old listener's and new "
                 "socket's SO_REUSEADDR (0, 1, *) and LISTENER = open, closed "
                 "or * (e.g. 1/1/closed,0/*/open)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            std::string why;
            if (ParseProbeCells(text, &why)) return {};
            return why;
          },
          "CELLS"));
  app.add_option("--family", f.family,
                 "address family: ipv4 (127.0.0.1) or "
                 "ipv6 (::1)")
      ->check(CLI::IsMember({"ipv4", "ipv6"}));
  app.add_option("--isolate", f.isolate,
                 "a fresh network namespace per cell: auto (when permitted), "
                 "on (required), off (host namespace, kernel-picked ports)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--csv", f.csv, "write one row per cell to this CSV file");
  app.add_option("--log_level", f.log_level, "accepted; the probe logs none")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

std::vector<std::string> ProbeCsvColumns() {
  return {"cell",       "old_reuseaddr",  "new_reuseaddr",
          "listener",   "family",         "result",
          "seconds",    "tries",          "last_step",
          "last_errno", "time_wait_left", "time_wait_seen_s",
          "bound_s",    "port",           "isolated",
          "error",      "kernel",         "git_commit",
          "utc"};
}

void WriteCsv(std::ostream& out, const std::vector<ProbeOutcome>& outcomes,
              double bound_s, bool isolated, const RunContext& context) {
  const std::vector<std::string> columns = ProbeCsvColumns();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    out << (i ? "," : "") << columns[i];
  }
  out << "\n";
  for (const ProbeOutcome& o : outcomes) {
    const std::vector<std::string> fields = {
        CsvField(CellName(o.cell)),
        o.cell.old_reuseaddr ? "1" : "0",
        o.cell.new_reuseaddr ? "1" : "0",
        o.cell.listener_open ? "open" : "closed",
        std::string(ToString(o.family)),
        ToString(o.result),
        CsvNumber(o.seconds),
        CsvNumber(static_cast<double>(o.tries)),
        CsvField(o.last_step),
        CsvField(o.last_errno),
        CsvNumber(static_cast<double>(o.time_wait_left)),
        CsvNumber(o.time_wait_seen_s),
        CsvNumber(bound_s),
        CsvNumber(o.port),
        isolated ? "1" : "0",
        CsvField(o.error),
        CsvField(context.kernel),
        CsvField(context.git_commit),
        CsvField(context.utc)};
    for (std::size_t i = 0; i < fields.size(); ++i) {
      out << (i ? "," : "") << fields[i];
    }
    out << "\n";
  }
}

std::string Failure(const ProbeOutcome& o) {
  if (o.last_step.empty()) return "-";
  return o.last_step + ":" + o.last_errno;
}

void PrintTable(std::ostream& out, const std::vector<ProbeOutcome>& outcomes) {
  out << std::left << std::setw(12) << "cell" << std::setw(5) << "old"
      << std::setw(5) << "new" << std::setw(10) << "listener" << std::setw(15)
      << "result" << std::right << std::setw(9) << "seconds" << std::setw(8)
      << "tries"
      << "  " << std::left << std::setw(18) << "last failure" << std::right
      << std::setw(8) << "tw_left"
      << "\n";
  for (const ProbeOutcome& o : outcomes) {
    std::ostringstream secs;
    if (o.seconds >= 0) {
      secs << std::fixed << std::setprecision(3) << o.seconds;
    } else {
      secs << "-";
    }
    out << std::left << std::setw(12) << CellName(o.cell) << std::setw(5)
        << (o.cell.old_reuseaddr ? 1 : 0) << std::setw(5)
        << (o.cell.new_reuseaddr ? 1 : 0) << std::setw(10)
        << (o.cell.listener_open ? "open" : "closed") << std::setw(15)
        << ToString(o.result) << std::right << std::setw(9) << secs.str()
        << std::setw(8) << o.tries << "  " << std::left << std::setw(18)
        << Failure(o) << std::right << std::setw(8) << o.time_wait_left << "\n";
    if (!o.error.empty())
      out << "  " << CellName(o.cell) << ": " << o.error << "\n";
  }
}

// One cell on a thread of its own: in a fresh namespace, or here.
struct CellRun {
  ProbeCell cell;
  ProbeLive live;
  ProbeOutcome outcome;
  std::thread thread;
};

void StartCell(CellRun& run, const ProbeSettings& settings, bool isolate) {
  run.outcome.cell = run.cell;
  run.outcome.family = settings.family;
  run.thread = std::thread([&run, settings, isolate] {
    // An exception leaving a std::thread would end the process unwritten.
    try {
      const auto cell = [&] {
        run.outcome = RunProbeCell(run.cell, settings, &run.live);
      };
      std::optional<std::string> why;
      if (isolate) {
        why = RunInFreshNetns(cell);
      } else {
        cell();
      }
      if (why) {
        run.outcome.result = ProbeResult::kError;
        run.outcome.error = "network namespace: " + *why;
      }
    } catch (const std::exception& e) {
      run.outcome.result = ProbeResult::kError;
      run.outcome.error = e.what();
    }
    run.live.done.store(true);
  });
}

// Prints "probe: 15 s, 3/8 cells done; still failing: ..." every ~5 s until
// every cell is done; polls every 10 ms so the end is not delayed.
void WatchProgress(std::vector<std::unique_ptr<CellRun>>& runs) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  double next_line = kProgressEvery_s;
  for (;;) {
    std::size_t done = 0;
    for (const auto& r : runs) done += r->live.done.load() ? 1 : 0;
    if (done == runs.size()) return;
    const double t =
        std::chrono::duration<double>(Clock::now() - start).count();
    if (t >= next_line) {
      next_line += kProgressEvery_s;
      std::ostringstream line;
      line << "probe: " << static_cast<int>(t) << " s, " << done << "/"
           << runs.size() << " cells done; still failing:";
      for (const auto& r : runs) {
        if (r->live.done.load()) continue;
        line << " " << CellName(r->cell) << " (" << r->live.tries.load()
             << " tries)";
      }
      if (g_interrupted.load()) line << "; interrupted, stopping";
      std::cerr << line.str() << "\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int Fail2(const std::string& message) {
  std::cerr << "twbench: " << message << "\n"
            << "Run 'twbench --probe=timewait --help' for every setting.\n";
  return 2;
}

}  // namespace

bool WantsProbe(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a == "--probe" || a.substr(0, 8) == "--probe=") return true;
  }
  return false;
}

void PrintProbeHelp(std::ostream& out) {
  ProbeFlags defaults;
  CLI::App app("", "twbench --probe=timewait");
  Describe(app, defaults);
  app.set_help_flag("-h,--help", "print this help and exit");
  out << app.help();
}

int RunProbeMain(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a == "-h" || a == "--help" || a == "-help") {
      PrintProbeHelp(std::cout);
      return 0;
    }
  }
  ProbeFlags f;
  CLI::App app("", "twbench --probe=timewait");
  Describe(app, f);
  app.set_help_flag();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return Fail2(e.what());
  }
  ProbeSettings settings;
  settings.bound_s = *ParseSeconds(f.bound);  // the validator checked it
  settings.family = f.family == "ipv6" ? Family::kIPv6 : Family::kIPv4;
  settings.stop = &g_interrupted;
  std::string why;
  const std::vector<ProbeCell> cells = *ParseProbeCells(f.cells, &why);

  std::unique_ptr<OutputFile> csv;
  if (!f.csv.empty()) {
    if (const auto bad = CheckOutputPaths({{"--csv", f.csv}}))
      return Fail2(*bad);
    csv = OutputFile::Open("--csv", f.csv, &why);
    if (!csv) return Fail2(why);
  }
  bool isolate = false;
  if (f.isolate != "off") {
    if (CanCreateNetns()) {
      isolate = true;
    } else if (f.isolate == "on") {
      return Fail2(
          "--isolate=on needs a network namespace per cell, and this "
          "process cannot make one: " +
          WhyNoNetns());
    } else {
      std::cerr << "twbench: no network namespace per cell (" << WhyNoNetns()
                << "); running the cells in the host namespace on "
                << "kernel-picked ports, census filtered by each cell's port, "
                << "isolated=0 in every row\n";
    }
  }
  // From here a signal stops the cells (settings.stop) and they are written.
  EnterRunPhase();
  const RunContext context = RunContext::Collect();
  std::cerr << "probe: " << cells.size() << " cells, " << f.family << ", bound "
            << settings.bound_s << " s, "
            << (isolate ? "each in its own network namespace"
                        : "in the host namespace")
            << "\n";

  std::vector<std::unique_ptr<CellRun>> runs;
  for (const ProbeCell& c : cells) {
    runs.push_back(std::make_unique<CellRun>());
    runs.back()->cell = c;
  }
  for (auto& r : runs) StartCell(*r, settings, isolate);
  WatchProgress(runs);
  std::vector<ProbeOutcome> outcomes;
  for (auto& r : runs) {
    r->thread.join();
    outcomes.push_back(r->outcome);
  }

  std::cout << "TIME_WAIT duration probe, " << f.family << ", kernel "
            << context.kernel << ", " << context.utc << ", bound "
            << settings.bound_s << " s, "
            << (isolate ? "each cell in its own network namespace"
                        : "host namespace")
            << "\n";
  PrintTable(std::cout, outcomes);
  std::cout.flush();
  bool written = true;
  if (csv) {
    WriteCsv(csv->stream(), outcomes, settings.bound_s, isolate, context);
    written = csv->Close();
    if (!written)
      std::cerr << "twbench: results incomplete: " << csv->error() << "\n";
  }
  bool interrupted = g_interrupted.load();
  bool error = false;
  for (const ProbeOutcome& o : outcomes) {
    interrupted = interrupted || o.result == ProbeResult::kInterrupted;
    error = error || o.result == ProbeResult::kError;
  }
  if (interrupted) {
    const int signal = StopSignal() != 0 ? StopSignal() : SIGINT;
    std::cerr << "twbench: interrupted by " << SignalName(signal)
              << "; the cells measured so far are written, the others say "
              << "interrupted\n";
    return 128 + signal;
  }
  if (error) {
    std::cerr << "twbench: a probe cell failed; see its error above\n";
    return 1;
  }
  return written ? 0 : 1;
}

}  // namespace twbench
