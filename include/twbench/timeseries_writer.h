// Writes the time series of every run of one invocation to one CSV file:
// a fixed header, then each run's samples as contiguous rows in time order.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "twbench/sampler.h"

namespace twbench {

// The header, exactly (scripts/plot reads the columns by name).
inline constexpr const char* kTimeseriesHeader =
    "name,repetition,t_s,attempted,completed,errors,connect_errors,"
    "bind_failures,restarts,time_wait,established,fin_wait1,fin_wait2,"
    "close_wait,last_ack";

class TimeseriesWriter {
 public:
  // Writes the header at once and flushes, so even an invocation with no
  // finished run leaves a readable file.
  explicit TimeseriesWriter(std::ostream& out);

  // Writes one run's samples and flushes (a Ctrl-C later keeps them). Every
  // call counts as a run of `name`, rows or not, so `repetition` follows
  // Google Benchmark's repetition index.
  void WriteRun(const std::string& name, const std::vector<Sample>& samples);

 private:
  std::ostream& out_;
  std::map<std::string, int> runs_;  // earlier runs by name
};

}  // namespace twbench
