#include "run_counters.h"

#include <cctype>
#include <string>

namespace twbench {
namespace {

double Us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

void SetRunCounters(benchmark::UserCounters& c, const ChurnStats& st) {
  const ErrorCounts e = st.errors();
  const double done = static_cast<double>(st.client.completed);
  c["connections"] = done;
  c["attempted"] = static_cast<double>(st.client.attempted);
  c["accepted"] = static_cast<double>(st.server.accepted);
  c["connected"] = static_cast<double>(st.client.connected);
  c["seconds"] = st.client.seconds;
  c["conn_per_s"] = st.client.seconds > 0 ? done / st.client.seconds : 0;
  // One process: one host, whose client is the whole spread. An MPI job's
  // BM_Churn sets them from every rank (measure_mpi.h).
  c["hosts"] = 1;
  c["client_hosts_conn_per_s_min"] = c["conn_per_s"];
  c["client_hosts_conn_per_s_max"] = c["conn_per_s"];
  // Every failed bind()/listen(): a listener's (restarts, the rebind) and
  // the client's own binds.
  c["bind_failures"] =
      static_cast<double>(e.AtStep(Step::kBind) + e.AtStep(Step::kListen));
  for (const char* name : {"EADDRINUSE", "EADDRNOTAVAIL", "ECONNREFUSED",
                           "ECONNRESET", "ETIMEDOUT", "EMFILE"}) {
    std::string key(name);
    for (char& ch : key) ch = static_cast<char>(std::tolower(ch));
    c[key] = static_cast<double>(e.ByName(name));
  }
  c["connect_errors"] = static_cast<double>(e.AtStep(Step::kConnect));
  c["accept_errors"] = static_cast<double>(e.AtStep(Step::kAccept));
  c["read_errors"] = static_cast<double>(e.AtStep(Step::kRead));
  c["write_errors"] = static_cast<double>(e.AtStep(Step::kWrite));
  c["errors_total"] = static_cast<double>(e.Total());
  c["resets"] = static_cast<double>(st.client.resets);
  c["unfinished"] = static_cast<double>(st.client.unfinished);
  c["lat_p50_us"] = Us(st.client.latency.Percentile(0.50));
  c["lat_p90_us"] = Us(st.client.latency.Percentile(0.90));
  c["lat_p99_us"] = Us(st.client.latency.Percentile(0.99));
  c["lat_max_us"] = Us(st.client.latency.max_ns());
  c["server_port"] = st.server_port;
  // Loops: how evenly the server loops accepted, what the loop threads cost.
  c["accept_share_min"] = st.accept_share_min();
  c["accept_share_max"] = st.accept_share_max();
  c["client_addrs_used"] = static_cast<double>(st.client.addrs_used());
  c["cpu_user_s"] = st.cpu_user_s();
  c["cpu_sys_s"] = st.cpu_sys_s();
  const double attempts = static_cast<double>(st.client.attempted);
  c["cpu_us_per_conn"] =
      attempts > 0 ? (st.cpu_user_s() + st.cpu_sys_s()) * 1e6 / attempts : 0;
}

}  // namespace twbench
