#include "twbench/timeseries_writer.h"

#include <cstdio>

#include "twbench/csv_reporter.h"

namespace twbench {

TimeseriesWriter::TimeseriesWriter(std::ostream& out) : out_(out) {
  out_ << kTimeseriesHeader << '\n';
  out_.flush();
}

void TimeseriesWriter::WriteRun(const std::string& name,
                                const std::vector<Sample>& samples) {
  const int repetition = runs_[name]++;
  const std::string prefix =
      CsvField(name) + "," + std::to_string(repetition) + ",";
  for (const Sample& s : samples) {
    // Microseconds: finer than any interval, coarser than the clock's noise.
    char t_s[32];
    std::snprintf(t_s, sizeof(t_s), "%.6f", s.t_s);
    out_ << prefix << t_s << ',' << s.attempted << ',' << s.completed << ','
         << s.errors << ',' << s.connect_errors << ',' << s.bind_failures << ','
         << s.restarts << ',' << s.time_wait << ',' << s.established << ','
         << s.fin_wait1 << ',' << s.fin_wait2 << ',' << s.close_wait << ','
         << s.last_ack << '\n';
  }
  out_.flush();
}

}  // namespace twbench
