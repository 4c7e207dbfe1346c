// twbench's command line, read through the settings table (settings.h): one
// flag per row, matrix settings as comma lists whose cross product is the
// benchmark matrix.
#pragma once

#include <string>
#include <vector>

#include "twbench/scenario.h"

namespace twbench {

struct Flags {
  // Per row of Settings(), in table order: the values given, or the row's
  // default split at commas (empty: unset).
  std::vector<std::vector<std::string>> values;
  // Per row: whether the flag was on the command line.
  std::vector<bool> given;
  // No matrix setting given: the default matrix, with its showcase rows.
  bool default_matrix = true;

  // The one value of a run-wide or output setting ("" when unset).
  const std::string& Value(std::string_view key) const;
  // Output and run state, read from `values` once parsed.
  std::string csv;
  std::string timeseries;
  int sample_interval_ms = 100;
  std::string log_level;
  std::string isolate;
  std::string scenario;
  std::string roles;        // the MPI mode's --roles, as given
  std::string server_addr;  // the MPI mode's --server_addr ("" unset)
  std::string rank_netns;   // the MPI mode's --rank_netns, %r not replaced
};

// Parses argv (after Google Benchmark took its --benchmark_* flags). On bad
// input prints a message naming the flag and what it accepts and exits 2.
Flags ParseFlags(int argc, char** argv);

// The matrix: the cross product of the matrix settings over one base
// scenario that holds every run-wide value, in the table's nesting order,
// plus the default matrix's showcase rows; or the named scenario alone.
std::vector<Scenario> Matrix(const Flags& flags);

// The flags given that only work with a network namespace per run (kernel
// knobs, --topology=veth, a scenario that sets knobs), as "--tw_reuse,
// --topology=veth"; empty when none. The default matrix's knob and veth
// rows are not flags given: without namespaces they become error rows.
std::string NamespaceOnlyFlags(const Flags& flags);

// Prints the help of twbench's settings and of Google Benchmark's flags.
void PrintHelp();

}  // namespace twbench
