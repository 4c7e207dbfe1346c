#include "gbench_flags.h"

#include <regex.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace twbench {
namespace {

// What a flag's value must be; empty when good, else what it accepts.
using Check = std::string (*)(std::string_view value, bool bare);

std::string Lower(std::string_view v) {
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return s;
}

std::string Bool(std::string_view v, bool bare) {
  static const char* const kWords[] = {
      "true", "false", "yes", "no", "on", "off", "1", "0", "t", "f", "y", "n"};
  if (bare) return {};
  const std::string s = Lower(v);
  for (const char* w : kWords) {
    if (s == w) return {};
  }
  return "true or false (also 1/0, yes/no, on/off)";
}

std::optional<long> Integer(std::string_view v) {
  const std::string s(v);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return n;
}

std::optional<double> Number(std::string_view v) {
  const std::string s(v);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::string Repetitions(std::string_view v, bool) {
  const auto n = Integer(v);
  if (n && *n >= 1 && *n <= 100000) return {};
  return "a whole number of repetitions from 1 to 100000";
}

std::string Verbosity(std::string_view v, bool) {
  const auto n = Integer(v);
  if (n && *n >= 0 && *n <= 100) return {};
  return "a verbosity from 0 to 100";
}

std::string MinTime(std::string_view v, bool) {
  const auto d = Number(v);
  if (d && *d > 0 && *d <= 86400) return {};
  return "seconds, a plain number > 0 and <= 86400 (no 's' suffix in "
         "Google Benchmark 1.7)";
}

std::string WarmupTime(std::string_view v, bool) {
  const auto d = Number(v);
  if (d && *d >= 0 && *d <= 86400) return {};
  return "seconds, a plain number from 0 to 86400";
}

std::string Format(std::string_view v, bool) {
  if (v == "console" || v == "json" || v == "csv") return {};
  return "console, json or csv";
}

std::string TimeUnit(std::string_view v, bool) {
  if (v == "ns" || v == "us" || v == "ms" || v == "s") return {};
  return "ns, us, ms or s";
}

std::string Color(std::string_view v, bool bare) {
  if (v == "auto") return {};
  if (Bool(v, bare).empty()) return {};
  return "auto, true or false";
}

// POSIX extended regex, as Google Benchmark matches names; empty: all.
std::string Filter(std::string_view v, bool) {
  std::string pattern(v);
  if (!pattern.empty() && pattern[0] == '-') pattern.erase(0, 1);
  if (pattern.empty()) return {};
  regex_t re;
  const int rc = regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc == 0) {
    regfree(&re);
    return {};
  }
  char what[128];
  regerror(rc, &re, what, sizeof(what));
  return "a regular expression (POSIX extended, '-' first to negate); this "
         "one does not compile: " +
         std::string(what);
}

std::string NonEmpty(std::string_view v, bool) {
  return v.empty() ? "a file name" : "";
}

// This Debian build has no libpfm: any counter makes Google Benchmark abort.
std::string PerfCounters(std::string_view v, bool) {
  return v.empty() ? ""
                   : "nothing: this Google Benchmark is built without "
                     "performance counters (libpfm)";
}

std::string KeyValues(std::string_view v, bool) {
  std::size_t start = 0;
  while (start <= v.size()) {
    const std::size_t comma = std::min(v.find(',', start), v.size());
    const std::string_view pair = v.substr(start, comma - start);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return "KEY=VALUE pairs separated by commas";
    }
    start = comma + 1;
  }
  return {};
}

struct FlagRule {
  const char* name;
  bool takes_bare;  // "--name" alone means true
  Check check;
};

// Every flag Google Benchmark 1.7.1 reads (benchmark::PrintDefaultHelp).
const std::vector<FlagRule>& Table() {
  static const std::vector<FlagRule> table = {
      {"benchmark_list_tests", true, Bool},
      {"benchmark_filter", false, Filter},
      {"benchmark_min_time", false, MinTime},
      {"benchmark_min_warmup_time", false, WarmupTime},
      {"benchmark_repetitions", false, Repetitions},
      {"benchmark_enable_random_interleaving", true, Bool},
      {"benchmark_report_aggregates_only", true, Bool},
      {"benchmark_display_aggregates_only", true, Bool},
      {"benchmark_format", false, Format},
      {"benchmark_out_format", false, Format},
      {"benchmark_out", false, NonEmpty},
      {"benchmark_color", true, Color},
      {"benchmark_counters_tabular", true, Bool},
      {"benchmark_perf_counters", false, PerfCounters},
      {"benchmark_context", false, KeyValues},
      {"benchmark_time_unit", false, TimeUnit},
      {"v", false, Verbosity},
  };
  return table;
}

}  // namespace

std::optional<std::string> CheckGbenchFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.substr(0, 2) != "--") continue;
    const std::size_t eq = arg.find('=');
    const bool bare = eq == std::string_view::npos;
    const std::string_view name = arg.substr(2, bare ? arg.npos : eq - 2);
    for (const FlagRule& flag : Table()) {
      if (name != flag.name) continue;
      if (bare && !flag.takes_bare) {
        return "--" + std::string(name) + " needs a value: --" +
               std::string(name) + "=VALUE";
      }
      const std::string_view value = bare ? "" : arg.substr(eq + 1);
      if (std::string want = flag.check(value, bare); !want.empty()) {
        return std::string(arg) + ": want " + want;
      }
    }
  }
  return std::nullopt;
}

std::string GbenchFlag(int argc, char** argv, std::string_view name,
                       std::string fallback) {
  std::string value = std::move(fallback);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.size() > name.size() + 3 && arg.substr(0, 2) == "--" &&
        arg.substr(2, name.size()) == name && arg[name.size() + 2] == '=') {
      value = std::string(arg.substr(name.size() + 3));
    }
  }
  return value;
}

}  // namespace twbench
