#include "twbench/settings.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "twbench/csv_reporter.h"

namespace twbench {
namespace {

// ------------------------------------------------------------ value parsers

// 'text', appended piece by piece: GCC 12 warns falsely (-Wrestrict) on an
// inlined "'" + std::string in a Release build.
std::string Quoted(std::string_view text, char quote = '\'') {
  std::string out(1, quote);
  out.append(text).push_back(quote);
  return out;
}

// A whole decimal integer in [lo, hi]; nothing before or after it.
template <typename T>
std::string ParseInteger(std::string_view text, T lo, T hi, T& out) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < lo ||
      value > hi) {
    return Quoted(text) + " is not a whole number from " + std::to_string(lo) +
           " to " + std::to_string(hi);
  }
  out = value;
  return {};
}

// A finite decimal number in [lo, hi]: NaN and infinities are refused.
std::string ParseSeconds(std::string_view text, double lo, double hi,
                         double& out) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end ||
      !std::isfinite(value) || value < lo || value > hi) {
    return Quoted(text) + " is not a finite number from " + CsvNumber(lo) +
           " to " + CsvNumber(hi);
  }
  out = value;
  return {};
}

// A knob: unset until a value is given.
std::string ParseKnob(std::string_view text, int lo, int hi,
                      std::optional<int>& out) {
  int value = 0;
  std::string why = ParseInteger(text, lo, hi, value);
  if (why.empty()) out = value;
  return why;
}

std::string ParseBool(std::string_view text, bool& out) {
  if (text != "0" && text != "1") {
    return Quoted(text) + " is not 0 or 1";
  }
  out = text == "1";
  return {};
}

// "MIN-MAX" with lo <= MIN <= MAX <= hi.
std::string ParseRange(std::string_view text, int lo,
                       std::pair<int, int>& out) {
  const std::size_t dash = text.find('-');
  std::pair<int, int> r;
  if (dash == std::string_view::npos ||
      !ParseInteger(text.substr(0, dash), lo, 65535, r.first).empty() ||
      !ParseInteger(text.substr(dash + 1), lo, 65535, r.second).empty()) {
    return Quoted(text) + " is not MIN-MAX (e.g. 40000-40999)";
  }
  if (r.first > r.second) {
    return Quoted(text) + " needs MIN <= MAX";
  }
  out = r;
  return {};
}

template <typename E>
std::string ParseEnum(std::string_view text, std::optional<E> parsed,
                      std::string_view values, E& out) {
  if (!parsed) {
    return Quoted(text) + " is not one of " + std::string(values);
  }
  out = *parsed;
  return {};
}

std::string OneOf(std::string_view text,
                  std::initializer_list<std::string_view> values) {
  if (std::find(values.begin(), values.end(), text) != values.end()) return {};
  std::string list;
  for (std::string_view v : values) {
    list += list.empty() ? "" : ",";
    list += v;
  }
  return Quoted(text) + " is not one of {" + list + "}";
}

// A numeric IPv4 or IPv6 address (no names: getaddrinfo with AI_ADDRCONFIG
// skips loopback, and every rank must mean the same address).
std::string ParseNumericAddress(std::string_view text) {
  const std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1 ||
      inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return {};
  }
  return Quoted(text) + " is not a numeric IPv4 or IPv6 address";
}

std::string Range(const std::pair<int, int>& r) {
  return std::to_string(r.first) + "-" + std::to_string(r.second);
}
std::string Bit(bool b) { return b ? "1" : "0"; }
template <typename T>
std::string Opt(const std::optional<T>& v) {
  return v ? std::to_string(*v) : std::string();
}

// ------------------------------------------------------ name predicates

bool Always(const Scenario&) { return true; }
// The client's binding stands in the name as a group, when not the default.
bool ClientGroup(const Scenario& s) {
  return s.client_bind != ClientBind::kEphemeral || s.client_reuseaddr;
}

// Fields whose default stays out of the name (names from before the setting
// existed still match).
#define TWBENCH_WHEN_SET(expr) \
  [](const Scenario& s) -> bool { return static_cast<bool>(expr); }

// One row per setting. The lambdas are the accessors of its Scenario field.
// clang-format off
const Setting kSettings[] = {
  {"reuseaddr", "reuseaddr", "reuseaddr", SettingKind::kMatrix, "0|1", "0,1",
   "SO_REUSEADDR on the listener", false, false,
   [](std::string_view t, Scenario& s) { return ParseBool(t, s.reuseaddr); },
   [](const Scenario& s) { return Bit(s.reuseaddr); }, Always, nullptr},
  {"reuseport", "reuseport", "reuseport", SettingKind::kMatrix, "0|1", "0",
   "SO_REUSEPORT on the listener", false, false,
   [](std::string_view t, Scenario& s) { return ParseBool(t, s.reuseport); },
   [](const Scenario& s) { return Bit(s.reuseport); }, Always, nullptr},
  {"closer", "closer", "closer", SettingKind::kMatrix, "client|server|rst",
   "client,server,rst",
   "who closes first: client, server, or rst (the server aborts with "
   "SO_LINGER {1,0})", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParseCloser(t), "{client,server,rst}", s.closer);
   },
   [](const Scenario& s) { return std::string(ToString(s.closer)); }, Always,
   nullptr},
  {"concurrency", "concurrency", "conc", SettingKind::kMatrix, "1..10000",
   "1,64", "connections in flight", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger(t, 1, kMaxConcurrency, s.concurrency);
   },
   [](const Scenario& s) { return std::to_string(s.concurrency); }, Always,
   nullptr},
  {"payload", "payload", "payload", SettingKind::kMatrix, "0..67108864",
   "0,1024",
   "bytes the client sends and the server echoes (0: connect and close)",
   false, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger<std::uint64_t>(t, 0, kMaxPayload, s.payload);
   },
   [](const Scenario& s) { return std::to_string(s.payload); }, Always,
   nullptr},
  {"family", "family", "family", SettingKind::kMatrix, "ipv4|ipv6", "ipv4",
   "ipv4 (127.0.0.1) or ipv6 (::1)", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParseFamily(t), "{ipv4,ipv6}", s.family);
   },
   [](const Scenario& s) { return std::string(ToString(s.family)); }, Always,
   nullptr},
  {"connections", "budget_connections", "", SettingKind::kRun, "1..100000000",
   "20000",
   "connections each run attempts (the same every run, so counts compare)",
   true, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger<std::uint64_t>(t, 1, 100000000, s.connections);
   },
   [](const Scenario& s) { return std::to_string(s.connections); }, nullptr,
   nullptr},
  {"time_limit", "time_limit_s", "", SettingKind::kRun, "0.001..86400", "30",
   "seconds after which a run stops, budget or not", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseSeconds(t, 0.001, 86400, s.time_limit_s);
   },
   [](const Scenario& s) { return CsvNumber(s.time_limit_s); }, nullptr,
   nullptr},
  {"topology", "topology", "topology", SettingKind::kMatrix, "loopback|veth",
   "loopback",
   "loopback (one namespace), or veth (client and server in two namespaces "
   "joined by a veth pair, 198.18.0.0/24 and 2001:2::/64)", false, true,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParseTopology(t), "{loopback,veth}", s.topology);
   },
   [](const Scenario& s) { return std::string(ToString(s.topology)); },
   TWBENCH_WHEN_SET(s.topology != Topology::kLoopback), nullptr},
  {"tw_reuse", "", "tw_reuse", SettingKind::kMatrix, "0|1|2", "",
   "net.ipv4.tcp_tw_reuse in the run's namespace: 0 off, 1 on, 2 loopback "
   "only (default: the namespace's)", false, true,
   [](std::string_view t, Scenario& s) {
     return ParseKnob(t, 0, 2, s.knobs.tw_reuse);
   },
   [](const Scenario& s) { return Opt(s.knobs.tw_reuse); },
   TWBENCH_WHEN_SET(s.knobs.tw_reuse), nullptr},
  {"tw_reuse_delay", "", "tw_reuse_delay", SettingKind::kMatrix,
   "1..3600000", "",
   "net.ipv4.tcp_tw_reuse_delay, ms a TIME_WAIT must age before reuse "
   "(default: the namespace's)", false, true,
   [](std::string_view t, Scenario& s) {
     return ParseKnob(t, 1, 3600000, s.knobs.tw_reuse_delay_ms);
   },
   [](const Scenario& s) { return Opt(s.knobs.tw_reuse_delay_ms); },
   TWBENCH_WHEN_SET(s.knobs.tw_reuse_delay_ms), nullptr},
  {"port_range", "", "port_range", SettingKind::kMatrix, "MIN-MAX", "",
   "net.ipv4.ip_local_port_range as MIN-MAX, e.g. 40000-40999 (default: the "
   "namespace's)", false, true,
   [](std::string_view t, Scenario& s) {
     std::pair<int, int> r;
     std::string why = ParseRange(t, 1, r);
     if (why.empty()) s.knobs.port_range = r;
     return why;
   },
   [](const Scenario& s) {
     return s.knobs.port_range ? Range(*s.knobs.port_range) : std::string();
   },
   TWBENCH_WHEN_SET(s.knobs.port_range), nullptr},
  {"max_tw_buckets", "", "max_tw_buckets", SettingKind::kMatrix,
   "0..1073741824", "",
   "net.ipv4.tcp_max_tw_buckets: most TIME_WAIT sockets (0: none kept; "
   "default: the namespace's)", false, true,
   [](std::string_view t, Scenario& s) {
     return ParseKnob(t, 0, 1 << 30, s.knobs.max_tw_buckets);
   },
   [](const Scenario& s) { return Opt(s.knobs.max_tw_buckets); },
   TWBENCH_WHEN_SET(s.knobs.max_tw_buckets), nullptr},
  {"client_bind", "client_bind", "client_bind", SettingKind::kMatrix,
   "ephemeral|range|range_no_port", "ephemeral",
   "how a client socket gets its port: ephemeral (connect() picks), range "
   "(bind() to the next port of --client_ports), range_no_port "
   "(IP_BIND_ADDRESS_NO_PORT, bind() to port 0)", false, false,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParseClientBind(t),
                      "{ephemeral,range,range_no_port}", s.client_bind);
   },
   [](const Scenario& s) { return std::string(ToString(s.client_bind)); },
   ClientGroup, nullptr},
  {"client_ports", "client_port_range", "client_ports", SettingKind::kRun,
   "MIN-MAX", "20000-20999",
   "ports client_bind=range walks through, wrapping, as MIN-MAX", true, false,
   [](std::string_view t, Scenario& s) {
     std::pair<int, int> r;
     std::string why = ParseRange(t, 1, r);
     if (why.empty()) std::tie(s.client_port_min, s.client_port_max) = r;
     return why;
   },
   [](const Scenario& s) {
     return Range({s.client_port_min, s.client_port_max});
   },
   TWBENCH_WHEN_SET(ClientGroup(s) && s.client_bind == ClientBind::kRange),
   [](const Scenario& s) {
     return s.client_bind == ClientBind::kRange
                ? Range({s.client_port_min, s.client_port_max})
                : std::string();
   }},
  {"client_reuseaddr", "client_reuseaddr", "client_reuseaddr",
   SettingKind::kMatrix, "0|1", "0", "SO_REUSEADDR on the client socket",
   false, false,
   [](std::string_view t, Scenario& s) {
     return ParseBool(t, s.client_reuseaddr);
   },
   [](const Scenario& s) { return Bit(s.client_reuseaddr); }, ClientGroup,
   nullptr},
  {"restart_every", "restart_every", "restart_every", SettingKind::kMatrix,
   "0..100000000", "0",
   "restart the listener every K accepted connections: close it and at once "
   "bind a new one to the same port (0: never)", false, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger(t, 0, 100000000, s.restart_every);
   },
   [](const Scenario& s) { return std::to_string(s.restart_every); },
   TWBENCH_WHEN_SET(s.restart_every != 0), nullptr},
  {"new_reuseaddr", "new_reuseaddr", "new_reuseaddr", SettingKind::kMatrix,
   "0|1", "",
   "SO_REUSEADDR of every new listener (restarts and the rebind after the "
   "run); default: the same as --reuseaddr", false, false,
   [](std::string_view t, Scenario& s) {
     bool v = false;
     std::string why = ParseBool(t, v);
     if (why.empty()) s.new_reuseaddr = v;
     return why;
   },
   [](const Scenario& s) {
     return s.new_reuseaddr ? Bit(*s.new_reuseaddr) : std::string();
   },
   TWBENCH_WHEN_SET(s.new_reuseaddr),
   // The column holds what is in force: unset is the listener's own.
   [](const Scenario& s) { return Bit(s.new_reuseaddr.value_or(s.reuseaddr)); }},
  {"restart_max_wait", "restart_max_wait_s", "", SettingKind::kRun,
   "0.001..86400", "65",
   "seconds a restart retries bind() (backoff 1 ms to 50 ms); then it has "
   "failed and the server stays down for the rest of the run", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseSeconds(t, 0.001, 86400, s.restart_max_wait_s);
   },
   [](const Scenario& s) { return CsvNumber(s.restart_max_wait_s); }, nullptr,
   nullptr},
  {"restart_mode", "restart_mode", "restart_mode", SettingKind::kMatrix,
   "stop_start|overlap", "stop_start",
   "how a restart replaces the listener: stop_start (close, then bind and "
   "listen a new one) or overlap (bind and listen the new one first, then "
   "close the old one: needs --reuseport=1, else the bind fails with "
   "EADDRINUSE)", false, false,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParseRestartMode(t), "{stop_start,overlap}",
                      s.restart_mode);
   },
   [](const Scenario& s) { return std::string(ToString(s.restart_mode)); },
   TWBENCH_WHEN_SET(s.restart_every != 0 &&
                    s.restart_mode != RestartMode::kStopStart),
   nullptr},
  {"loops", "loops", "loops", SettingKind::kMatrix, "1..256", "1",
   "server loops and as many client loops, each a uv_loop_t on a thread of "
   "its own; --concurrency is the total, split across the client loops",
   true, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger(t, 1, kMaxLoops, s.loops);
   },
   [](const Scenario& s) { return std::to_string(s.loops); },
   TWBENCH_WHEN_SET(s.loops != 1), nullptr},
  {"accept", "accept", "accept", SettingKind::kMatrix, "reuseport|shared",
   "reuseport",
   "with --loops above 1: reuseport (a listener per server loop on the same "
   "port, SO_REUSEPORT) or shared (one listening socket polled by every "
   "server loop)", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParseAcceptMode(t), "{reuseport,shared}", s.accept);
   },
   [](const Scenario& s) { return std::string(ToString(s.accept)); },
   TWBENCH_WHEN_SET(s.loops != 1), nullptr},
  {"client_addrs", "client_addrs", "client_addrs", SettingKind::kMatrix,
   "1..254", "1",
   "source addresses of the client sockets, 127.0.0.1 .. 127.0.0.K (veth: K "
   "addresses of the client's side), bound with IP_BIND_ADDRESS_NO_PORT and "
   "used in turn", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger(t, 1, kMaxClientAddrs, s.client_addrs);
   },
   [](const Scenario& s) { return std::to_string(s.client_addrs); },
   TWBENCH_WHEN_SET(s.client_addrs != 1), nullptr},
  {"pin", "pin", "", SettingKind::kRun, "none|spread", "none",
   "loop threads' CPUs: none (the scheduler's choice) or spread (server "
   "loop i and client loop i on the 2i-th and (2i+1)-th allowed CPU, "
   "wrapping)", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseEnum(t, ParsePin(t), "{none,spread}", s.pin);
   },
   [](const Scenario& s) { return std::string(ToString(s.pin)); }, nullptr,
   nullptr},
  {"connection_timeout", "", "", SettingKind::kRun, "0.001..3600", "5",
   "seconds one connection may take before it counts as ETIMEDOUT", true,
   false,
   [](std::string_view t, Scenario& s) {
     return ParseSeconds(t, 0.001, 3600, s.connection_timeout_s);
   },
   [](const Scenario& s) { return CsvNumber(s.connection_timeout_s); },
   nullptr, nullptr},
  {"backlog", "", "", SettingKind::kRun, "1..1048576", "4096",
   "listen(2) backlog (capped by net.core.somaxconn)", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger(t, 1, 1 << 20, s.backlog);
   },
   [](const Scenario& s) { return std::to_string(s.backlog); }, nullptr,
   nullptr},
  {"port", "", "", SettingKind::kRun, "0..65535", "0",
   "listener port of every run; 0: the kernel picks a free one per run. A "
   "fixed port with --isolate=off shows what a run inherits from the one "
   "before (time_wait_at_start)", true, false,
   [](std::string_view t, Scenario& s) {
     return ParseInteger<std::uint16_t>(t, 0, 65535, s.port);
   },
   [](const Scenario& s) { return std::to_string(s.port); }, nullptr,
   nullptr},
  {"isolate", "", "", SettingKind::kRun, "auto|on|off", "auto",
   "a fresh network namespace per run: auto (when permitted), on (required), "
   "off (host namespace)", true, false,
   [](std::string_view t, Scenario&) { return OneOf(t, {"auto", "on", "off"}); },
   nullptr, nullptr, nullptr},
  {"scenario", "", "", SettingKind::kRun, "port_exhaustion", "",
   "run a named scenario alone instead of the matrix: port_exhaustion "
   "(client-side close through a 500-port ip_local_port_range, "
   "tcp_tw_reuse=0, 5000 connections)", true, false,
   [](std::string_view t, Scenario&) { return OneOf(t, {"port_exhaustion"}); },
   nullptr, nullptr, nullptr},
  {"roles", "", "", SettingKind::kRun, "server|client,...", "",
   "launched by mpirun or srun (the MPI mode, docs/hosts.md): each rank's "
   "role, comma-separated, one per rank; unset: rank 0 serves and every "
   "other rank is a client. Without MPI: exit 2",
   true, false,
   [](std::string_view t, Scenario&) {
     std::string_view rest = t;
     while (!rest.empty()) {
       const std::size_t comma = rest.find(',');
       if (std::string e = OneOf(rest.substr(0, comma), {"server", "client"});
           !e.empty()) {
         return e;
       }
       if (comma == std::string_view::npos) break;
       rest.remove_prefix(comma + 1);
     }
     return std::string();
   },
   nullptr, nullptr, nullptr},
  {"server_addr", "", "", SettingKind::kRun, "ADDRESS", "",
   "the MPI mode: the numeric IPv4 or IPv6 address the client ranks reach "
   "the server rank on (the server's listener binds it); unset: the server "
   "rank's loopback, allowed only when every rank runs on one host in one "
   "namespace. Without MPI: exit 2",
   true, false,
   [](std::string_view t, Scenario&) { return ParseNumericAddress(t); },
   nullptr, nullptr, nullptr},
  {"rank_netns", "", "", SettingKind::kRun, "PATH", "",
   "the MPI mode: a network namespace per rank, e.g. /run/netns/twb%r (%r: "
   "the rank; a bare name is under /run/netns): the rank's loop threads, "
   "its kernel knobs, census and counters are there, while MPI keeps the "
   "namespace it was launched in (scripts/mpi_topology). Without MPI: "
   "exit 2",
   true, false,
   [](std::string_view, Scenario&) { return std::string(); }, nullptr,
   nullptr, nullptr},
  {"csv", "", "", SettingKind::kOutput, "PATH", "",
   "write result rows to this CSV file", true, false,
   [](std::string_view, Scenario&) { return std::string(); }, nullptr, nullptr,
   nullptr},
  {"timeseries", "", "", SettingKind::kOutput, "PATH", "",
   "write each run's samples over time to this CSV file (docs/timeseries.md); "
   "without it nothing is sampled", true, false,
   [](std::string_view, Scenario&) { return std::string(); }, nullptr, nullptr,
   nullptr},
  {"sample_interval_ms", "", "", SettingKind::kOutput, "0..60000", "100",
   "milliseconds between two samples of the time series (0: no sampling)",
   true, false,
   [](std::string_view t, Scenario&) {
     int v = 0;
     return ParseInteger(t, 0, 60000, v);
   },
   nullptr, nullptr, nullptr},
  {"log_level", "", "", SettingKind::kOutput,
   "trace|debug|info|warn|error|critical|off", "warn",
   "log level (also SPDLOG_LEVEL, which wins)", true, false,
   [](std::string_view t, Scenario&) {
     return OneOf(t, {"trace", "debug", "info", "warn", "error", "critical",
                      "off"});
   },
   nullptr, nullptr, nullptr},
};
// clang-format on

#undef TWBENCH_WHEN_SET

constexpr std::string_view kNesting[] = {
    "topology",       "tw_reuse",     "tw_reuse_delay",   "port_range",
    "max_tw_buckets", "loops",        "accept",           "family",
    "reuseport",      "closer",       "payload",          "concurrency",
    "reuseaddr",      "client_bind",  "client_reuseaddr", "client_addrs",
    "restart_every",  "restart_mode", "new_reuseaddr"};

std::string_view KindName(SettingKind kind) {
  switch (kind) {
    case SettingKind::kMatrix:
      return "matrix";
    case SettingKind::kRun:
      return "run";
    case SettingKind::kOutput:
      return "output";
  }
  return "?";
}

// Names the settings of `s` away from their default for which `pick` holds.
std::string ListAway(const Scenario& s, bool (*pick)(const Setting&)) {
  std::string out;
  for (const Setting& row : kSettings) {
    if (!pick(row) || AtDefault(row, s)) continue;
    out += out.empty() ? "" : ", ";
    out += row.key;
  }
  return out;
}

}  // namespace

std::span<const Setting> Settings() { return kSettings; }

const Setting* FindSetting(std::string_view key) {
  for (const Setting& row : kSettings) {
    if (row.key == key) return &row;
  }
  return nullptr;
}

std::span<const std::string_view> MatrixNesting() { return kNesting; }

bool AtDefault(const Setting& row, const Scenario& s) {
  if (row.format == nullptr) return true;
  static const Scenario kDefault;
  return row.format(s) == row.format(kDefault);
}

std::string Apply(
    Scenario& s,
    std::span<const std::pair<std::string_view, std::string_view>> patch) {
  for (const auto& [key, value] : patch) {
    const Setting* row = FindSetting(key);
    if (row == nullptr || row->format == nullptr) {
      return std::string(key) + ": not a scenario setting";
    }
    if (std::string why = row->parse(value, s); !why.empty()) {
      return std::string(key) + ": " + why;
    }
  }
  return {};
}

std::string BaselineUnsupported(const Scenario& s) {
  return ListAway(s, [](const Setting& row) { return !row.baseline; });
}

std::string NamespaceOnly(const Scenario& s) {
  return ListAway(s, [](const Setting& row) { return row.needs_netns; });
}

std::string SettingsName(const Scenario& s) {
  std::string name;
  for (const Setting& row : kSettings) {
    if (row.in_name == nullptr || !row.in_name(s)) continue;
    name += name.empty() ? "" : "/";
    name += std::string(row.segment) + ":" + row.format(s);
  }
  return name;
}

std::vector<std::string> SettingColumns() {
  std::vector<std::string> out;
  for (const Setting& row : kSettings) {
    if (!row.column.empty()) out.emplace_back(row.column);
  }
  return out;
}

std::vector<std::string> SettingCells(const Scenario& s) {
  std::vector<std::string> out;
  for (const Setting& row : kSettings) {
    if (row.column.empty()) continue;
    out.push_back(row.cell != nullptr ? row.cell(s) : row.format(s));
  }
  return out;
}

std::string ListSettings(std::string_view format) {
  std::ostringstream out;
  if (format == "json") {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const Setting& r : kSettings) {
      rows.push_back({{"key", r.key},
                      {"flag", "--" + std::string(r.key)},
                      {"column", r.column},
                      {"segment", r.segment},
                      {"kind", KindName(r.kind)},
                      {"values", r.values},
                      {"default", r.default_text},
                      {"baseline", r.baseline},
                      {"needs_netns", r.needs_netns},
                      {"help", r.help}});
    }
    return rows.dump(2) + "\n";
  }
  if (format == "markdown") {
    out << "| flag | kind | values | default | CSV column | name segment | "
           "baseline | needs a namespace | meaning |\n"
        << "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    for (const Setting& r : kSettings) {
      const auto code = [](std::string_view v) {
        return v.empty() ? std::string("—") : Quoted(v, '`');
      };
      out << "| `--" << r.key << "` | " << KindName(r.kind) << " | "
          << code(r.values) << " | " << code(r.default_text) << " | "
          << code(r.column) << " | " << code(r.segment) << " | "
          << (r.baseline ? "yes" : "no") << " | "
          << (r.needs_netns ? "yes" : "no") << " | " << r.help << " |\n";
    }
    return out.str();
  }
  for (const Setting& r : kSettings) {
    out << "--" << r.key << "=" << r.values << "  [" << KindName(r.kind)
        << "; default " << (r.default_text.empty() ? "unset" : r.default_text)
        << "]\n    " << r.help << "\n";
  }
  return out.str();
}

}  // namespace twbench
