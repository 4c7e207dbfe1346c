#include "flags.h"

#include <benchmark/benchmark.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <set>
#include <utility>

#include "probe.h"
#include "twbench/settings.h"
#include "twbench/sysctl.h"

namespace twbench {
namespace {

using Patch = std::vector<std::pair<std::string_view, std::string_view>>;

[[noreturn]] void BadInput(const std::string& message) {
  std::cerr << "twbench: " << message << "\n"
            << "Run 'twbench --help' for every setting and what it accepts.\n";
  std::exit(2);
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  for (;;) {
    const std::size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

// Checks a value (each of a matrix list) with the row's own parser. A blank
// list entry is refused, not dropped; a value that looks like a flag is the
// next flag swallowed by one given without its value ("--csv
// --connections=200").
CLI::Validator RowValidator(const Setting& row) {
  return CLI::Validator(
      [&row](std::string& text) -> std::string {
        if (text.rfind("--", 0) == 0) {
          return "no value given (the next argument, " + text + ", is a flag)";
        }
        const bool list = row.kind == SettingKind::kMatrix;
        for (const std::string& value :
             list ? SplitList(text) : std::vector<std::string>{text}) {
          if (value.empty()) {
            return list ? "a blank entry in '" + text + "'" : "a blank value";
          }
          Scenario scratch;
          if (std::string why = row.parse(value, scratch); !why.empty()) {
            return why;
          }
        }
        return {};
      },
      std::string(row.values));
}

std::string HelpLine(const Setting& row) {
  std::string help(row.help);
  if (row.kind == SettingKind::kMatrix) help += "; a comma list";
  return help;
}

// One CLI11 option per row of the settings table; `single` holds the one
// value of run-wide and output settings.
void Describe(CLI::App& app, Flags& f, std::vector<std::string>& single) {
  app.description(
      "twbench: churn short TCP connections with libuv and measure TIME_WAIT,\n"
      "bind() failures and rates. Matrix settings take comma-separated lists;\n"
      "every combination is one benchmark. A flag given twice: the last one\n"
      "counts. --list_settings[=json|markdown] prints this table,\n"
      "--list_columns[=json|markdown] the CSV's columns.");
  const auto rows = Settings();
  f.values.assign(rows.size(), {});
  single.assign(rows.size(), {});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Setting& row = rows[i];
    const std::string flag = "--" + std::string(row.key);
    CLI::Option* option = row.kind == SettingKind::kMatrix
                              ? app.add_option(flag, f.values[i], HelpLine(row))
                              : app.add_option(flag, single[i], HelpLine(row));
    option->check(RowValidator(row));
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    option->default_str(
        row.default_text.empty() ? "unset" : std::string(row.default_text));
  }
}

// A matrix list names each value once: a repeated one would run twice under
// one name, and its rows could not be told apart.
void RejectDuplicates(const Setting& row, const std::vector<std::string>& v) {
  std::set<std::string> seen;
  for (const std::string& text : v) {
    Scenario scratch;
    row.parse(text, scratch);  // checked by the validator
    if (!seen.insert(row.format(scratch)).second) {
      BadInput("--" + std::string(row.key) + ": '" + text +
               "' is given twice; each value runs once");
    }
  }
}

// The row's default values; none when it is unset by default.
std::vector<std::string> Defaults(const Setting& row) {
  if (row.default_text.empty()) return {};
  return SplitList(row.default_text);
}

// Fills in defaults, reads the output settings, decides the default matrix.
void Settle(CLI::App& app, Flags& f, const std::vector<std::string>& single) {
  const auto rows = Settings();
  f.given.assign(rows.size(), false);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Setting& row = rows[i];
    f.given[i] = app.count("--" + std::string(row.key)) > 0;
    if (row.kind != SettingKind::kMatrix) {
      f.values[i] =
          f.given[i] ? std::vector<std::string>{single[i]} : Defaults(row);
    } else if (!f.given[i]) {
      f.values[i] = Defaults(row);
    } else {
      // The last occurrence counts, as for every flag (and Google
      // Benchmark's): a script's defaults can be overridden after them.
      f.values[i] = SplitList(f.values[i].back());
      RejectDuplicates(row, f.values[i]);
      f.default_matrix = false;
    }
  }
  f.csv = f.Value("csv");
  f.timeseries = f.Value("timeseries");
  f.sample_interval_ms = std::stoi(f.Value("sample_interval_ms"));
  f.log_level = f.Value("log_level");
  f.isolate = f.Value("isolate");
  f.scenario = f.Value("scenario");
  f.roles = f.Value("roles");
  f.server_addr = f.Value("server_addr");
  f.rank_netns = f.Value("rank_netns");
}

// Every run-wide value, set once; the matrix and the showcase rows are
// patches over it.
Scenario Base(const Flags& f) {
  Scenario base;
  const auto rows = Settings();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].kind != SettingKind::kRun || rows[i].format == nullptr)
      continue;
    for (const std::string& v : f.values[i]) rows[i].parse(v, base);
  }
  return base;
}

Scenario Patched(const Scenario& base, const Patch& patch) {
  Scenario s = base;
  if (std::string why = Apply(s, patch); !why.empty()) {
    std::cerr << "twbench: a built-in scenario is broken: " << why << "\n";
    std::abort();
  }
  return s;
}

// Port exhaustion: the client closes first, so each connection leaves a
// TIME_WAIT on a client port; with tcp_tw_reuse=0 none is reused, and the
// 500-port range runs dry after ~500 connections. The budget is ten times
// the range, so the row shows the rate before and after, and the run goes on.
const Patch kPortExhaustion = {
    {"reuseaddr", "1"},   {"closer", "client"},
    {"concurrency", "8"}, {"connections", "5000"},
    {"tw_reuse", "0"},    {"port_range", "40000-40499"}};

// What tcp_tw_reuse does to a client that churns through a 1000-port range
// faster than TIME_WAIT drains: off, it runs out of ports (EADDRNOTAVAIL);
// at 2 it recycles TIME_WAIT on loopback but not over veth, where the
// loopback-only rule holds. The reuse delay is 1 ms so the runs stay short;
// a kernel before 6.14 has no tcp_tw_reuse_delay (its delay is a fixed 1 s),
// so there the rows leave it unset instead of failing on a missing knob.
void AppendKnobShowcase(const Scenario& base, std::vector<Scenario>& out) {
  for (std::string_view topology : {"loopback", "veth"}) {
    for (std::string_view tw_reuse : {"0", "2"}) {
      Patch patch = {{"reuseaddr", "1"},     {"closer", "client"},
                     {"concurrency", "64"},  {"topology", topology},
                     {"tw_reuse", tw_reuse}, {"port_range", "40000-40999"}};
      if (KernelHasTwReuseDelay()) patch.emplace_back("tw_reuse_delay", "1");
      out.push_back(Patched(base, patch));
    }
  }
}

// The port-exhaustion rows: autobind runs dry at connect (EADDRNOTAVAIL); a
// client binding ports of its own 500-port range without SO_REUSEADDR runs
// dry at bind (EADDRINUSE) once the range wraps onto its own TIME_WAIT.
void AppendClientBindShowcase(const Scenario& base,
                              std::vector<Scenario>& out) {
  out.push_back(Patched(base, kPortExhaustion));
  out.push_back(Patched(base, {{"reuseaddr", "1"},
                               {"closer", "client"},
                               {"concurrency", "8"},
                               {"connections", "5000"},
                               {"client_bind", "range"},
                               {"client_ports", "20000-20499"}}));
}

// A server restarting every 2000 accepts with server-side close: with reuse
// off the first restart meets its own TIME_WAIT and never comes back; with
// reuse on each restart takes ~1 ms.
void AppendRestartShowcase(const Scenario& base, std::vector<Scenario>& out) {
  for (std::string_view reuseaddr : {"0", "1"}) {
    out.push_back(Patched(base, {{"reuseaddr", reuseaddr},
                                 {"closer", "server"},
                                 {"concurrency", "64"},
                                 {"restart_every", "2000"}}));
  }
}

// The cross product, outermost setting first: each step multiplies every
// scenario so far by the values of the next setting.
std::vector<Scenario> CrossProduct(const Flags& f, const Scenario& base) {
  std::vector<Scenario> out = {base};
  for (std::string_view key : MatrixNesting()) {
    const Setting* row = FindSetting(key);
    const std::size_t i = static_cast<std::size_t>(row - Settings().data());
    if (f.values[i].empty()) continue;  // unset: stays out of the name
    std::vector<Scenario> next;
    next.reserve(out.size() * f.values[i].size());
    for (const Scenario& s : out) {
      for (const std::string& v : f.values[i]) {
        Scenario t = s;
        row->parse(v, t);
        next.push_back(std::move(t));
      }
    }
    out = std::move(next);
  }
  return out;
}

}  // namespace

const std::string& Flags::Value(std::string_view key) const {
  static const std::string kUnset;
  const Setting* row = FindSetting(key);
  const std::size_t i = static_cast<std::size_t>(row - Settings().data());
  return values[i].empty() ? kUnset : values[i].front();
}

void PrintHelp() {
  Flags defaults;
  std::vector<std::string> single;
  CLI::App app("twbench", "twbench");
  Describe(app, defaults, single);
  app.set_help_flag("-h,--help", "print this help and exit");
  std::cout << app.help() << "\n";
  // The TIME_WAIT duration probe (--probe=timewait) has settings of its own.
  PrintProbeHelp(std::cout);
  std::cout << "\nGoogle Benchmark flags:\n";
  std::cout.flush();
  benchmark::PrintDefaultHelp();
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> single;
  CLI::App app("twbench", "twbench");
  Describe(app, flags, single);
  app.set_help_flag();  // handled in main, before Google Benchmark sees it
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    BadInput(e.what());
  }
  Settle(app, flags, single);
  if (!flags.scenario.empty() && !flags.default_matrix) {
    BadInput("--scenario=" + flags.scenario +
             " fixes the matrix settings; leave out --closer, --concurrency, "
             "--port_range and the other matrix settings");
  }
  return flags;
}

// A setting that does not act in a scenario stays out of its name (--accept
// with one loop): the cross product's copies that differ only there run
// once, the first given.
std::vector<Scenario> Distinct(std::vector<Scenario> in) {
  std::set<std::string> seen;
  std::vector<Scenario> out;
  out.reserve(in.size());
  for (Scenario& s : in) {
    if (seen.insert(SettingsName(s)).second) out.push_back(std::move(s));
  }
  return out;
}

// Settings that are each fine but not together (--concurrency=1 with
// --loops=2) are bad input, found before anything runs.
void RejectInvalid(const std::vector<Scenario>& matrix) {
  for (const Scenario& s : matrix) {
    if (std::string why = Validate(s); !why.empty()) {
      BadInput("the settings do not go together in " + SettingsName(s) + ": " +
               why);
    }
  }
}

std::vector<Scenario> Matrix(const Flags& f) {
  const Scenario base = Base(f);
  if (f.scenario == "port_exhaustion") return {Patched(base, kPortExhaustion)};
  std::vector<Scenario> out = Distinct(CrossProduct(f, base));
  RejectInvalid(out);
  if (f.default_matrix) {
    AppendKnobShowcase(base, out);
    AppendClientBindShowcase(base, out);
    AppendRestartShowcase(base, out);
  }
  return out;
}

std::string NamespaceOnlyFlags(const Flags& f) {
  std::string given;
  const auto add = [&given](const std::string& flag) {
    given += given.empty() ? "" : ", ";
    given += flag;
  };
  const auto rows = Settings();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].needs_netns || !f.given[i]) continue;
    for (const std::string& v : f.values[i]) {
      Scenario s;
      rows[i].parse(v, s);
      if (AtDefault(rows[i], s)) continue;
      // A knob is named alone; a setting with a default by its value.
      add("--" + std::string(rows[i].key) +
          (rows[i].default_text.empty() ? "" : "=" + v));
      if (rows[i].default_text.empty()) break;
    }
  }
  if (!f.scenario.empty() &&
      !NamespaceOnly(Patched(Scenario{}, kPortExhaustion)).empty()) {
    add("--scenario=" + f.scenario);
  }
  return given;
}

}  // namespace twbench
