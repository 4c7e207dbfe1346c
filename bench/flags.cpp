#include "flags.h"

#include <benchmark/benchmark.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace twbench {
namespace {

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
  app.add_option("--isolate", f.isolate,
                 "a fresh network namespace per run: auto (when permitted), "
                 "on (required), off (host namespace)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--csv", f.csv, "write result rows to this CSV file");
  app.add_option("--log_level", f.log_level,
                 "trace, debug, info, warn, error, critical or off (also "
                 "SPDLOG_LEVEL)")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

}  // namespace

void PrintHelp() {
  Flags defaults;
  CLI::App app("twbench", "twbench");
  Describe(app, defaults);
  app.set_help_flag("-h,--help", "print this help and exit");
  std::cout << app.help() << "\nGoogle Benchmark flags:\n";
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
  return flags;
}

std::vector<Scenario> Matrix(const Flags& f) {
  std::vector<Scenario> out;
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
              out.push_back(s);
            }
  return out;
}

}  // namespace twbench
