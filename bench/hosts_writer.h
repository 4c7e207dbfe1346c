// <stem>.hosts.csv of an MPI job (issue 11): one row per rank and run, the
// rank's own counts, beside the job's row in <stem>.csv (whose totals are
// their sums). Written by rank 0, after each run.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace twbench {

// What one rank measured on its own side of a run.
struct HostRow {
  int rank = 0;
  std::string role;               // server or client
  std::uint64_t connections = 0;  // completed, client ranks
  std::uint64_t attempted = 0;
  std::uint64_t connected = 0;
  std::uint64_t accepted = 0;  // server rank
  double seconds = 0;          // the client rank's churn, its own clock
  std::uint64_t errors_total = 0;
  std::uint64_t time_wait = 0;  // its side's census
  std::uint64_t tcpext_tw = 0;
  std::uint64_t tcpext_tw_recycled = 0;
  std::uint64_t tcp_out_rsts = 0;
  std::string error;  // the rank's fatal or measurement error
};

class HostsWriter {
 public:
  explicit HostsWriter(std::ostream& out);  // writes the header
  // One row per rank, `name` the run's (BM_Churn/<settings>); flushed.
  void WriteRun(const std::string& name, const std::vector<HostRow>& rows);

 private:
  std::ostream& out_;
};

}  // namespace twbench
