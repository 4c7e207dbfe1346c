// twbench's own command-line settings, in one table: each with a default and
// a help line. Matrix settings take comma-separated lists; the benchmark
// matrix is their cross product.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "twbench/scenario.h"

namespace twbench {

struct Flags {
  std::vector<int> reuseaddr{0, 1};
  std::vector<int> reuseport{0};
  std::vector<std::string> closer{"client", "server", "rst"};
  std::vector<int> concurrency{1, 64};
  std::vector<std::uint64_t> payload{0, 1024};
  std::vector<std::string> family{"ipv4"};
  std::vector<std::string> topology{"loopback"};
  // Kernel knobs, each a matrix setting; empty: left at the namespace's
  // default and not in the benchmark's name.
  std::vector<int> tw_reuse;
  std::vector<int> tw_reuse_delay_ms;
  std::vector<std::string> port_range;  // "min-max"
  std::vector<int> max_tw_buckets;
  // Listener restarts, matrix settings: restart the listener every K
  // accepted connections (0: never); SO_REUSEADDR of each new listener
  // (empty: the listener's own). The retry bound applies to every run.
  std::vector<int> restart_every{0};
  std::vector<int> new_reuseaddr;
  double restart_max_wait_s = 65;
  std::uint64_t connections = 20000;
  double time_limit_s = 30;
  double connection_timeout_s = 5;
  int backlog = 4096;
  int port = 0;  // listener port of every run; 0: the kernel picks one
  std::string isolate = "auto";  // auto, on, off: a network namespace per run
  std::string csv;               // empty: no CSV
  std::string log_level = "warn";
  // No matrix setting given: the default matrix also shows what the kernel
  // knobs and the topology change (see Matrix()).
  bool default_matrix = true;

  // Client port binding: matrix settings, and one range for all runs.
  std::vector<std::string> client_bind{"ephemeral"};
  std::string client_ports = "20000-20999";  // "min-max", client_bind=range
  std::vector<int> client_reuseaddr{0};
  // A named scenario ("port_exhaustion") run alone instead of the matrix;
  // empty: the matrix.
  std::string scenario;
  // The time series (docs/timeseries.md): sampled only when written.
  int sample_interval_ms = 100;  // 0: no sampler
  std::string timeseries;        // empty: no time-series file
};

// Parses argv (after Google Benchmark took its --benchmark_* flags). On bad
// input prints a message naming the setting and what it accepts and exits 2;
// on --help prints the help of both and exits 0.
Flags ParseFlags(int argc, char** argv);

// The cross product of the matrix settings, in a stable order.
std::vector<Scenario> Matrix(const Flags& flags);

// The flags given that only work with a network namespace per run (kernel
// knobs, --topology=veth, a scenario that sets knobs), as "--tw_reuse,
// --topology=veth"; empty when none. The default matrix's knob and veth
// rows are not flags given: without namespaces they become error rows.
std::string NamespaceOnlyFlags(const Flags& flags);

// Prints the help of twbench's settings and of Google Benchmark's flags.
void PrintHelp();

}  // namespace twbench
