// <stem>.hosts.csv (bench/hosts_writer.h).
#include "hosts_writer.h"

#include "twbench/csv_reporter.h"

namespace twbench {

HostsWriter::HostsWriter(std::ostream& out) : out_(out) {
  out_ << "name,rank,role,connections,attempted,connected,accepted,seconds,"
          "conn_per_s,errors_total,time_wait,tcpext_tw,tcpext_tw_recycled,"
          "tcp_out_rsts,error\n";
  out_.flush();
}

void HostsWriter::WriteRun(const std::string& name,
                           const std::vector<HostRow>& rows) {
  for (const HostRow& r : rows) {
    const double rate =
        r.seconds > 0 ? static_cast<double>(r.connections) / r.seconds : 0;
    out_ << CsvField(name) << ',' << r.rank << ',' << r.role << ','
         << r.connections << ',' << r.attempted << ',' << r.connected << ','
         << r.accepted << ',' << CsvNumber(r.seconds) << ',' << CsvNumber(rate)
         << ',' << r.errors_total << ',' << r.time_wait << ',' << r.tcpext_tw
         << ',' << r.tcpext_tw_recycled << ',' << r.tcp_out_rsts << ','
         << CsvField(r.error) << '\n';
  }
  out_.flush();
}

}  // namespace twbench
