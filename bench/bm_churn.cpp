#include "bm_churn.h"

#include <benchmark/benchmark.h>
#include <uv.h>

#include <limits>

#include "hosts_writer.h"
#include "measure.h"
#include "measure_mpi.h"
#include "run_counters.h"
#include "spdlog/spdlog.h"
#include "stop_signal.h"
#include "twbench/error_name.h"
#include "twbench/time_wait_ledger.h"
#include "twbench/timeseries_writer.h"

namespace twbench {

std::atomic<bool> g_interrupted{false};

namespace {

double Ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// Listener restarts (Scenario::restart_every). bind_failures (every failed
// bind()/listen() of a listener: restarts and the final rebind) is above.
void SetRestartCounters(benchmark::UserCounters& c, const ChurnStats& st) {
  const double bind_failures = static_cast<double>(
      st.errors().AtStep(Step::kBind) + st.errors().AtStep(Step::kListen));
  c["restarts"] = static_cast<double>(st.server.restarts);
  c["restarts_failed"] = static_cast<double>(st.server.restarts_failed);
  c["bind_fail_per_s"] =
      st.client.seconds > 0 ? bind_failures / st.client.seconds : 0;
  // 0 when no restart completed (see restarts, restarts_failed).
  c["restart_downtime_p50_ms"] =
      Ms(st.server.restart_downtime.Percentile(0.50));
  c["restart_downtime_max_ms"] = Ms(st.server.restart_downtime.max_ns());
  c["server_down_ms"] = Ms(st.server.server_down_ns);
  c["accept_queue_lost"] = static_cast<double>(st.server.accept_queue_lost);
}

// Client port binding and port exhaustion: where the client's attempts fail
// (bind or connect) and the rate before and after the first failure. NaN
// where there was no failure: no time, no rate after it.
void SetClientBindCounters(benchmark::UserCounters& c, const ChurnStats& st) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ErrorCounts e = st.errors();
  c["client_bind_failures"] =
      static_cast<double>(st.client.client_bind_failures);
  // Not e.At(Step::kBind, ...): that step holds the listener's too.
  c["client_bind_eaddrinuse"] =
      static_cast<double>(st.client.client_bind_eaddrinuse);
  c["connect_eaddrnotavail"] =
      static_cast<double>(e.At(Step::kConnect, "EADDRNOTAVAIL"));
  const double before = static_cast<double>(st.client.completed_before_failure);
  c["completed_before_failure"] = before;
  if (!st.client.first_connect_failure_s) {
    c["first_connect_failure_s"] = nan;
    c["conn_per_s_before_failure"] =
        st.client.seconds > 0
            ? static_cast<double>(st.client.completed) / st.client.seconds
            : 0;
    c["conn_per_s_after_failure"] = nan;
    return;
  }
  const double t = *st.client.first_connect_failure_s;
  c["first_connect_failure_s"] = t;
  c["conn_per_s_before_failure"] = t > 0 ? before / t : nan;
  const double after = static_cast<double>(st.client.completed) - before;
  c["conn_per_s_after_failure"] =
      st.client.seconds > t ? after / (st.client.seconds - t) : nan;
}

// The TIME_WAIT ledger (docs/time-wait-ledger.md): where every socket that
// entered TIME_WAIT went. -1 where the counters are not the run's own (host
// namespace); expired and unexplained are nan for a run of 60 s or more,
// where TIME_WAIT expiry is not counted.
void SetLedgerCounters(benchmark::UserCounters& c, const Measured& m,
                       const Scenario& s) {
  c["tuple_reuses"] = static_cast<double>(m.stats.client.tuple_reuses);
  const TimeWaitLedger l = BalanceTimeWait({
      .closer = s.closer,
      .entered = m.tcpext.tw,
      .held = m.census.server + m.census.client,
      .recycled = m.tcpext.tw_recycled,
      .killed = m.tcpext.tw_killed,
      .tuple_reuses = m.stats.client.tuple_reuses,
      .rfc1337 = m.knobs.rfc1337 != 0,
      .out_rsts = m.out_rsts,
      .abort_rsts = m.abort_rsts,
      .expired = 0,
  });
  const auto own = [&m](double value) { return m.isolated ? value : -1.0; };
  // The churn plus the census's settle wait, against Linux's fixed 60 s.
  const bool expiry_possible = m.stats.client.seconds + 2.5 >= 60.0;
  const double unknown = std::numeric_limits<double>::quiet_NaN();
  c["tcp_out_rsts"] = own(static_cast<double>(m.out_rsts));
  c["tw_taken_over"] = own(static_cast<double>(l.taken_over));
  c["tw_reset"] = own(static_cast<double>(l.reset));
  c["tw_expired"] = own(expiry_possible ? unknown : 0.0);
  c["tw_unexplained"] =
      own(expiry_possible ? unknown : static_cast<double>(l.unexplained));
}

void SetCounters(benchmark::State& state, const Measured& m,
                 const Scenario& s) {
  const ChurnStats& st = m.stats;
  const Census& census = m.census;
  const double done = static_cast<double>(st.client.completed);
  const double tw = static_cast<double>(census.server + census.client);
  auto& c = state.counters;
  SetRunCounters(c, st);
  c["time_wait"] = tw;
  c["time_wait_server"] = static_cast<double>(census.server);
  c["time_wait_client"] = static_cast<double>(census.client);
  c["time_wait_per_conn"] = done > 0 ? tw / done : 0;
  c["rebind_ok"] = st.server.rebind.bound ? 1 : 0;
  c["client_ports"] = static_cast<double>(st.client.client_ports_distinct);
  c["server_forced_closes"] =
      static_cast<double>(st.server.server_forced_closes);
  c["census_settled"] = census.settled ? 1 : 0;
  c["isolated"] = m.isolated ? 1 : 0;
  // TcpExt counts the whole namespace and cannot be filtered by port: in the
  // host namespace (not isolated) the delta holds every other socket's events
  // too, so the row says -1 (not the run's own) rather than a foreign count.
  const auto own = [&m](std::uint64_t delta) {
    return m.isolated ? static_cast<double>(delta) : -1.0;
  };
  c["tcpext_tw"] = own(m.tcpext.tw);
  c["tcpext_tw_recycled"] = own(m.tcpext.tw_recycled);
  c["tcpext_tw_killed"] = own(m.tcpext.tw_killed);
  c["tcpext_tw_overflow"] = own(m.tcpext.tw_overflow);
  c["tcpext_listen_overflows"] = own(m.tcpext.listen_overflows);
  c["tcpext_listen_drops"] = own(m.tcpext.listen_drops);
  c["tw_reuse"] = m.knobs.tw_reuse;
  // -1: this kernel has no tcp_tw_reuse_delay (it came in Linux 6.14).
  c["tw_reuse_delay_ms"] = m.knobs.tw_reuse_delay_ms.value_or(-1);
  c["port_min"] = m.knobs.port_min;
  c["port_max"] = m.knobs.port_max;
  c["max_tw_buckets"] = m.knobs.max_tw_buckets;
  // -1 where it is not the run's own total (host namespace, or veth where
  // each end has its own namespace and the census counts both).
  c["sockstat_tw"] =
      m.isolated && m.sockstat_tw ? static_cast<double>(*m.sockstat_tw) : -1;
  c["time_wait_at_start"] = static_cast<double>(m.time_wait_at_start);
  SetClientBindCounters(c, st);
  // 0: the run was not sampled (no --timeseries, or --sample_interval_ms=0).
  c["sample_interval_ms"] = m.sample_interval_ms;
  SetRestartCounters(c, st);
  // The rebind's wait for the run's sockets on the server port to finish
  // closing on the wire (at most 1 s; 0 when no rebind was attempted).
  c["rebind_wait_ms"] = Ms(st.server.rebind.wait_ns);
  // Established at the client, never accepted by the server (e.g. dropped
  // by libuv when out of fds): docs/engine-limits.md.
  c["not_accepted"] = static_cast<double>(st.not_accepted());
  SetLedgerCounters(c, m, s);
  c["hosts"] = m.hosts;
  if (m.client_hosts_conn_per_s) {
    c["client_hosts_conn_per_s_min"] = m.client_hosts_conn_per_s->first;
    c["client_hosts_conn_per_s_max"] = m.client_hosts_conn_per_s->second;
  }
}

std::string Label(const ChurnStats& st, const RunState& run) {
  std::string label = "rebind=";
  // No rebind tried (a client rank of an MPI job has no listener): "none".
  const RebindResult& r = st.server.rebind;
  label += r.bound ? "bound" : r.error != 0 ? UvErrorName(r.error) : "none";
  if (!st.server.rebind.blockers.empty())
    label += "(" + st.server.rebind.blockers + ")";
  if (run.stop->load()) {
    label += ",interrupted";
  } else if (st.client.hit_time_limit) {
    label += ",time_limit";
  }
  return label;
}

void BM_Churn(benchmark::State& state, const Scenario& s, const RunState* run) {
  for (auto _ : state) {
    if (run->stop->load()) {
      state.SkipWithError(InterruptedMessage().c_str());
      break;
    }
    // The engine times the churn itself (`seconds`); Google Benchmark's
    // real time also holds thread start-up and the census.
    const Measured m =
        run->job != nullptr ? MeasureAcrossRanks(s, *run) : Measure(s, *run);
    // Every run counts as a repetition of its name, rows or not.
    if (run->timeseries != nullptr) {
      run->timeseries->WriteRun("BM_Churn/" + SettingsName(s), m.samples);
    }
    if (run->hosts != nullptr) {
      run->hosts->WriteRun("BM_Churn/" + SettingsName(s), m.host_rows);
    }
    const ChurnStats& st = m.stats;
    if (!st.fatal.empty()) {
      state.SkipWithError(("cannot run: " + st.fatal).c_str());
      break;
    }
    if (!m.error.empty()) {
      state.SkipWithError(m.error.c_str());
      break;
    }
    SetCounters(state, m, s);
    state.SetLabel(Label(st, *run));
    if (!st.errors().Summary().empty()) {
      spdlog::info("{}: {}", SettingsName(s), st.errors().Summary());
    }
  }
}

}  // namespace

std::map<std::string, Scenario> RegisterChurnBenchmarks(
    const std::vector<Scenario>& matrix, const RunState& run) {
  std::map<std::string, Scenario> by_name;
  for (const Scenario& s : matrix) {
    std::string name = "BM_Churn/" + SettingsName(s);
    benchmark::RegisterBenchmark(name.c_str(), BM_Churn, s, &run)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    by_name.emplace(name, s);
  }
  return by_name;
}

}  // namespace twbench
