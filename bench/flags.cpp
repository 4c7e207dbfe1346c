#include "flags.h"

#include <benchmark/benchmark.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "probe.h"

namespace twbench {
namespace {

std::optional<std::pair<int, int>> ParsePortRange(const std::string& text) {
  int lo = 0, hi = 0;
  char dash = 0;
  std::istringstream in(text);
  if (!(in >> lo >> dash >> hi) || dash != '-' || !in.eof()) return {};
  return std::make_pair(lo, hi);
}

CLI::Validator PortRangeValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto range = ParsePortRange(text);
        if (!range) return "'" + text + "' is not MIN-MAX (e.g. 40000-40999)";
        if (range->first < 1 || range->second > 65535 ||
            range->first > range->second) {
          return "'" + text + "' needs 1 <= MIN <= MAX <= 65535";
        }
        return {};
      },
      "MIN-MAX");
}

// Client port binding and the named scenarios (docs/client-ports.md).
void DescribeClientBind(CLI::App& app, Flags& f) {
  app.add_option("--client_bind", f.client_bind,
                 "how a client socket gets its port: ephemeral (connect() "
                 "picks), range (bind() to the next port of --client_ports), "
                 "range_no_port (IP_BIND_ADDRESS_NO_PORT, bind() to port 0)")
      ->delimiter(',')
      ->check(CLI::IsMember({"ephemeral", "range", "range_no_port"}));
  app.add_option("--client_ports", f.client_ports,
                 "ports client_bind=range walks through, wrapping, as MIN-MAX")
      ->check(PortRangeValidator());
  app.add_option("--client_reuseaddr", f.client_reuseaddr,
                 "SO_REUSEADDR on the client socket")
      ->delimiter(',')
      ->check(CLI::IsMember({0, 1}));
  app.add_option("--scenario", f.scenario,
                 "run a named scenario alone instead of the matrix: "
                 "port_exhaustion (client-side close through a 500-port "
                 "ip_local_port_range, tcp_tw_reuse=0, 5000 connections)")
      ->check(CLI::IsMember({"port_exhaustion"}));
}

// The one table of settings. Defaults come from the Flags struct, so the
// help always shows what a run without the flag does.
void Describe(CLI::App& app, Flags& f) {
  app.description(
      "twbench: churn short TCP connections on loopback with libuv and "
      "measure\nTIME_WAIT, bind() failures and rates. Matrix settings take "
      "comma-separated\nlists; every combination is one benchmark.");
  app.option_defaults()->always_capture_default();
  app.add_option("--reuseaddr", f.reuseaddr, "SO_REUSEADDR on the listener")
      ->delimiter(',')
      ->check(CLI::IsMember({0, 1}));
  app.add_option("--reuseport", f.reuseport, "SO_REUSEPORT on the listener")
      ->delimiter(',')
      ->check(CLI::IsMember({0, 1}));
  app.add_option("--closer", f.closer,
                 "who closes first: client, server, or rst (server aborts "
                 "with SO_LINGER {1,0})")
      ->delimiter(',')
      ->check(CLI::IsMember({"client", "server", "rst"}));
  app.add_option("--concurrency", f.concurrency, "connections in flight")
      ->delimiter(',')
      ->check(CLI::Range(1, kMaxConcurrency));
  app.add_option("--payload", f.payload,
                 "bytes the client sends and the server echoes (0: connect "
                 "and close)")
      ->delimiter(',')
      ->check(CLI::Range(std::uint64_t{0}, kMaxPayload));
  app.add_option("--family", f.family, "ipv4 (127.0.0.1) or ipv6 (::1)")
      ->delimiter(',')
      ->check(CLI::IsMember({"ipv4", "ipv6"}));
  app.add_option("--topology", f.topology,
                 "loopback (one namespace), or veth (client and server in "
                 "two namespaces joined by a veth pair, 198.18.0.0/24 and "
                 "2001:2::/64)")
      ->delimiter(',')
      ->check(CLI::IsMember({"loopback", "veth"}));
  app.add_option("--tw_reuse", f.tw_reuse,
                 "net.ipv4.tcp_tw_reuse in the run's namespace: 0 off, 1 on, "
                 "2 loopback only (default: the namespace's)")
      ->delimiter(',')
      ->check(CLI::IsMember({0, 1, 2}));
  app.add_option("--tw_reuse_delay", f.tw_reuse_delay_ms,
                 "net.ipv4.tcp_tw_reuse_delay, ms a TIME_WAIT must age "
                 "before reuse")
      ->delimiter(',')
      ->check(CLI::Range(1, 3600000));
  app.add_option("--port_range", f.port_range,
                 "net.ipv4.ip_local_port_range as MIN-MAX, e.g. 40000-40999")
      ->delimiter(',')
      ->check(PortRangeValidator());
  app.add_option("--max_tw_buckets", f.max_tw_buckets,
                 "net.ipv4.tcp_max_tw_buckets: most TIME_WAIT sockets "
                 "(0: none kept)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--restart_every", f.restart_every,
                 "restart the listener every K accepted connections: close "
                 "it and at once bind a new one to the same port (0: never)")
      ->delimiter(',')
      ->check(CLI::Range(0, 100000000));
  app.add_option("--new_reuseaddr", f.new_reuseaddr,
                 "SO_REUSEADDR of every new listener (restarts and the "
                 "rebind after the run); default: the same as --reuseaddr")
      ->delimiter(',')
      ->check(CLI::IsMember({0, 1}));
  app.add_option("--restart_max_wait", f.restart_max_wait_s,
                 "seconds a restart retries bind() (backoff 1 ms to 50 ms); "
                 "then it has failed and the server stays down for the rest "
                 "of the run")
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--connections", f.connections,
                 "connections each run attempts (the same every run, so "
                 "counts compare)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000000}));
  app.add_option("--time_limit", f.time_limit_s,
                 "seconds after which a run stops, budget or not")
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--connection_timeout", f.connection_timeout_s,
                 "seconds one connection may take before it counts as "
                 "ETIMEDOUT")
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--backlog", f.backlog, "listen(2) backlog")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--port", f.port,
                 "listener port of every run; 0: the kernel picks a free one "
                 "per run. A fixed port with --isolate=off shows what a run "
                 "inherits from the one before (time_wait_at_start)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--isolate", f.isolate,
                 "a fresh network namespace per run: auto (when permitted), "
                 "on (required), off (host namespace)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  DescribeClientBind(app, f);
  app.add_option("--csv", f.csv, "write result rows to this CSV file");
  app.add_option("--log_level", f.log_level,
                 "trace, debug, info, warn, error, critical or off (also "
                 "SPDLOG_LEVEL)")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--timeseries", f.timeseries,
                 "write each run's samples over time to this CSV file "
                 "(docs/timeseries.md); without it nothing is sampled");
  app.add_option("--sample_interval_ms", f.sample_interval_ms,
                 "milliseconds between two samples of the time series (0: "
                 "no sampling)")
      ->check(CLI::Range(0, 60000));
}

}  // namespace

void PrintHelp() {
  Flags defaults;
  CLI::App app("twbench", "twbench");
  Describe(app, defaults);
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
  CLI::App app("twbench", "twbench");
  Describe(app, flags);
  app.set_help_flag();  // handled in main, before Google Benchmark sees it
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::cerr
        << "twbench: " << e.what() << "\n"
        << "Run 'twbench --help' for every setting and what it accepts.\n";
    std::exit(2);
  }
  for (const char* name :
       {"--reuseaddr", "--reuseport", "--closer", "--concurrency", "--payload",
        "--family", "--topology", "--tw_reuse", "--tw_reuse_delay",
        "--port_range", "--max_tw_buckets", "--restart_every",
        "--new_reuseaddr"}) {
    if (app.count(name) > 0) flags.default_matrix = false;
  }
  for (const char* name : {"--client_bind", "--client_reuseaddr"}) {
    if (app.count(name) > 0) flags.default_matrix = false;
  }
  if (!flags.scenario.empty() && !flags.default_matrix) {
    std::cerr << "twbench: --scenario=" << flags.scenario
              << " fixes the matrix settings; leave out --closer, "
                 "--concurrency, --port_range and the other matrix settings\n";
    std::exit(2);
  }
  return flags;
}

namespace {

// One entry per value of a knob; a single "unset" entry when the flag is
// not given, so the knob stays out of the matrix and the name.
template <typename T>
std::vector<std::optional<T>> Dimension(const std::vector<T>& values) {
  if (values.empty()) return {std::nullopt};
  return {values.begin(), values.end()};
}

std::vector<TcpKnobs> KnobMatrix(const Flags& f) {
  std::vector<std::optional<std::pair<int, int>>> ranges;
  for (const std::string& r : f.port_range) ranges.push_back(ParsePortRange(r));
  if (ranges.empty()) ranges.push_back(std::nullopt);
  std::vector<TcpKnobs> out;
  for (auto reuse : Dimension(f.tw_reuse))
    for (auto delay : Dimension(f.tw_reuse_delay_ms))
      for (auto range : ranges)
        for (auto buckets : Dimension(f.max_tw_buckets)) {
          out.push_back(TcpKnobs{reuse, delay, range, buckets});
        }
  return out;
}

// What tcp_tw_reuse does to a client that churns through a 1000-port range
// faster than TIME_WAIT drains: off, it runs out of ports (EADDRNOTAVAIL);
// at 2 it recycles TIME_WAIT on loopback but not over veth, where the
// loopback-only rule holds. The reuse delay is 1 ms so the runs stay short;
// a kernel before 6.14 has no tcp_tw_reuse_delay (its delay is a fixed 1 s),
// so there the rows leave it unset instead of failing on a missing knob.
void AppendKnobShowcase(const Flags& f, std::vector<Scenario>& out) {
  const std::optional<int> delay =
      KernelHasTwReuseDelay() ? std::optional<int>(1) : std::nullopt;
  for (Topology topology : {Topology::kLoopback, Topology::kVeth}) {
    for (int tw_reuse : {0, 2}) {
      Scenario s;
      s.reuseaddr = true;
      s.closer = Closer::kClient;
      s.concurrency = 64;
      s.topology = topology;
      s.connections = f.connections;
      s.time_limit_s = f.time_limit_s;
      s.connection_timeout_s = f.connection_timeout_s;
      s.backlog = f.backlog;
      s.knobs = TcpKnobs{tw_reuse, delay, std::make_pair(40000, 40999), {}};
      out.push_back(s);
    }
  }
}

// Every scenario once per client binding and client SO_REUSEADDR (the
// defaults: once, unchanged).
void ApplyClientBind(const Flags& f, std::vector<Scenario>& out) {
  const auto ports = ParsePortRange(f.client_ports);  // checked by the parser
  std::vector<Scenario> crossed;
  for (const Scenario& base : out)
    for (const std::string& bind : f.client_bind)
      for (int reuse : f.client_reuseaddr) {
        Scenario s = base;
        s.client_bind = *ParseClientBind(bind);
        s.client_reuseaddr = reuse != 0;
        if (ports) std::tie(s.client_port_min, s.client_port_max) = *ports;
        crossed.push_back(s);
      }
  out = std::move(crossed);
}

// Port exhaustion: the client closes first, so each connection leaves a
// TIME_WAIT on a client port; with tcp_tw_reuse=0 none is reused, and the
// 500-port range runs dry after ~500 connections. The budget is ten times
// the range, so the row shows the rate before and after, and the run goes on.
Scenario PortExhaustion(const Flags& f) {
  Scenario s;
  s.reuseaddr = true;
  s.closer = Closer::kClient;
  s.concurrency = 8;
  s.connections = 5000;
  s.time_limit_s = f.time_limit_s;
  s.connection_timeout_s = f.connection_timeout_s;
  s.backlog = f.backlog;
  s.knobs = TcpKnobs{0, {}, std::make_pair(40000, 40499), {}};
  return s;
}

// The default matrix's port-exhaustion rows: autobind runs dry at connect
// (EADDRNOTAVAIL); a client binding ports of its own 500-port range without
// SO_REUSEADDR runs dry at bind (EADDRINUSE) once the range wraps onto its
// own TIME_WAIT. About half a second each.
void AppendClientBindShowcase(const Flags& f, std::vector<Scenario>& out) {
  out.push_back(PortExhaustion(f));
  Scenario s = PortExhaustion(f);
  s.knobs = {};
  s.client_bind = ClientBind::kRange;
  s.client_port_min = 20000;
  s.client_port_max = 20499;
  out.push_back(s);
}

// A server restarting every 2000 accepts with server-side close: with reuse
// off the first restart meets its own TIME_WAIT and never comes back (the
// rest of the budget is refused); with reuse on each restart takes ~1 ms.
// Both rows together cost ~5 s.
void AppendRestartShowcase(const Flags& f, std::vector<Scenario>& out) {
  for (bool reuseaddr : {false, true}) {
    Scenario s;
    s.reuseaddr = reuseaddr;
    s.closer = Closer::kServer;
    s.concurrency = 64;
    s.connections = f.connections;
    s.time_limit_s = f.time_limit_s;
    s.connection_timeout_s = f.connection_timeout_s;
    s.backlog = f.backlog;
    s.restart_every = 2000;
    s.restart_max_wait_s = f.restart_max_wait_s;
    out.push_back(s);
  }
}

// Each scenario once per restart setting (restart_every x new_reuseaddr).
std::vector<Scenario> WithRestarts(const Flags& f, std::vector<Scenario> in) {
  std::vector<Scenario> out;
  for (const Scenario& base : in)
    for (int every : f.restart_every)
      for (auto new_reuseaddr : Dimension(f.new_reuseaddr)) {
        Scenario s = base;
        s.restart_every = every;
        if (new_reuseaddr) s.new_reuseaddr = *new_reuseaddr != 0;
        s.restart_max_wait_s = f.restart_max_wait_s;
        out.push_back(s);
      }
  return out;
}

// The matrix's scenarios before the settings every run shares.
std::vector<Scenario> Scenarios(const Flags& f) {
  if (f.scenario == "port_exhaustion") return {PortExhaustion(f)};
  std::vector<Scenario> out;
  for (const std::string& topology : f.topology)
    for (const TcpKnobs& knobs : KnobMatrix(f))
      for (const std::string& family : f.family)
        for (int reuseport : f.reuseport)
          for (const std::string& closer : f.closer)
            for (std::uint64_t payload : f.payload)
              for (int concurrency : f.concurrency)
                for (int reuseaddr : f.reuseaddr) {
                  Scenario s;
                  s.reuseaddr = reuseaddr != 0;
                  s.reuseport = reuseport != 0;
                  s.closer = *ParseCloser(closer);
                  s.concurrency = concurrency;
                  s.payload = payload;
                  s.family = *ParseFamily(family);
                  s.connections = f.connections;
                  s.time_limit_s = f.time_limit_s;
                  s.connection_timeout_s = f.connection_timeout_s;
                  s.backlog = f.backlog;
                  s.knobs = knobs;
                  s.topology = *ParseTopology(topology);
                  out.push_back(s);
                }
  ApplyClientBind(f, out);
  out = WithRestarts(f, std::move(out));
  if (f.default_matrix) AppendKnobShowcase(f, out);
  if (f.default_matrix) AppendClientBindShowcase(f, out);
  if (f.default_matrix) AppendRestartShowcase(f, out);
  return out;
}

}  // namespace

std::string NamespaceOnlyFlags(const Flags& f) {
  std::string given;
  const auto add = [&given](bool set, const char* name) {
    if (!set) return;
    if (!given.empty()) given += ", ";
    given += name;
  };
  add(!f.tw_reuse.empty(), "--tw_reuse");
  add(!f.tw_reuse_delay_ms.empty(), "--tw_reuse_delay");
  add(!f.port_range.empty(), "--port_range");
  add(!f.max_tw_buckets.empty(), "--max_tw_buckets");
  add(std::find(f.topology.begin(), f.topology.end(), "veth") !=
          f.topology.end(),
      "--topology=veth");
  add(f.scenario == "port_exhaustion", "--scenario=port_exhaustion");
  return given;
}

std::vector<Scenario> Matrix(const Flags& f) {
  std::vector<Scenario> out = Scenarios(f);
  for (Scenario& s : out) s.port = static_cast<std::uint16_t>(f.port);
  return out;
}

}  // namespace twbench
