// Test helper: runs the twbench binary built beside the tests (TWBENCH_BINARY,
// a compile definition) through the shell, as a user would, and keeps its
// exit status and its output, stdout and stderr together.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace twbench::testing {

struct Outcome {
  int status = -1;     // exit status; -1 when it did not exit normally
  std::string output;  // stdout and stderr
};

inline Outcome RunTwbench(const std::string& args) {
  const std::string cmd = std::string(TWBENCH_BINARY) + " " + args + " 2>&1";
  Outcome o;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    o.output.append(buf.data(), n);
  }
  const int raw = pclose(p);
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return o;
}

}  // namespace twbench::testing
