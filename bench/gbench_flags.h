// Google Benchmark's own flags (--benchmark_*, --v), checked before Google
// Benchmark sees them: it takes many values silently (a format "xml" prints
// its usage and exits 0, --benchmark_repetitions=-1 aborts), so each flag is
// checked here like twbench's own, one table of what each accepts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twbench {

// The first Google Benchmark flag in argv whose value that flag does not
// accept, as a message naming the flag and what it accepts; nullopt when all
// are good. Flags Google Benchmark does not know are left to twbench's own
// parser, which refuses them.
std::optional<std::string> CheckGbenchFlags(int argc, char** argv);

// The value of the last --NAME=VALUE in argv (Google Benchmark takes the
// last), `fallback` when none: GbenchFlag(argc, argv, "benchmark_out", "").
std::string GbenchFlag(int argc, char** argv, std::string_view name,
                       std::string fallback);

}  // namespace twbench
