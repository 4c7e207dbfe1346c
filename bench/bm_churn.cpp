#include "bm_churn.h"

#include <benchmark/benchmark.h>
#include <uv.h>

#include <exception>
#include <limits>

#include "run_counters.h"
#include "spdlog/spdlog.h"
#include "stop_signal.h"
#include "twbench/churn.h"
#include "twbench/kernel_counters.h"
#include "twbench/listener.h"
#include "twbench/netns.h"
#include "twbench/sampler.h"
#include "twbench/socket_census.h"
#include "twbench/sysctl.h"
#include "twbench/timeseries_writer.h"
#include "twbench/topology.h"

namespace twbench {

std::atomic<bool> g_interrupted{false};
bool g_isolate = false;
TimeseriesWriter* g_timeseries = nullptr;
int g_sample_interval_ms = 0;

namespace {

struct Census {
  std::uint64_t server = 0;  // TIME_WAIT whose local port is the server's
  std::uint64_t client = 0;  // TIME_WAIT whose remote port is the server's
  bool settled = true;       // no socket of the run still closing
};

// The run's own TIME_WAIT sockets: the server port is fresh for every run,
// so filtering by it in the kernel leaves out every other run's sockets.
// Counted once the last FINs and ACKs of the run have been processed.
Census CountTimeWait(const Scenario& s, std::uint16_t server_port) {
  CensusQuery q;
  q.states = StateBit(TcpState::kTimeWait);
  q.ipv4 = s.family == Family::kIPv4;
  q.ipv6 = s.family == Family::kIPv6;
  q.local_port = server_port;
  Census c;
  SettledCounts server = CountTcpSocketsSettled(q, 2.0);
  q.local_port.reset();
  q.remote_port = server_port;
  SettledCounts client = CountTcpSocketsSettled(q, 2.0);
  c.server = server.counts.time_wait();
  c.client = client.counts.time_wait();
  c.settled = server.settled && client.settled;
  return c;
}

// One run, measured where it ran: the churn, the census and the kernel
// counters all in the same network namespace.
struct Measured {
  ChurnStats stats;
  Census census;
  TcpExtCounters tcpext;  // deltas over the run
  TcpKnobValues knobs;    // in force during the run, read back
  // /proc/net/sockstat "tw" of the run's namespace after the census: a
  // constant-cost total, exact only when the namespace is the run's alone.
  std::optional<std::uint64_t> sockstat_tw;
  // sockstat "tw" of the run's namespace(s) before the churn: what the run
  // inherits. 0 in a fresh namespace; the host's whole count when shared.
  std::uint64_t time_wait_at_start = 0;
  bool isolated = false;
  std::string error;            // census or counters failed
  std::vector<Sample> samples;  // the time series, when sampled
  int sample_interval_ms = 0;   // 0: not sampled
};

// The time series of one run: sampling starts before the churn and stops
// after the run's settled census, so the last sample counts what the row's
// time_wait counts.
class RunSampler {
 public:
  // `namespaces`: where the run's sockets are (empty: this thread's);
  // `shared`: a namespace other sockets live in too (filter by the port).
  RunSampler(const Scenario& s, std::vector<const NetNamespace*> namespaces,
             bool shared) {
    if (g_timeseries == nullptr || g_sample_interval_ms <= 0) return;
    SamplerSettings settings;
    settings.interval_ms = g_sample_interval_ms;
    settings.capacity = SampleCapacity(s.time_limit_s, g_sample_interval_ms);
    settings.ipv4 = s.family == Family::kIPv4;
    settings.ipv6 = s.family == Family::kIPv6;
    settings.namespaces = std::move(namespaces);
    settings.filter_by_server_port = shared;
    sampler_.emplace(std::move(settings), live_);
    if (std::string why = sampler_->Start(); !why.empty()) {
      spdlog::warn("{}: not sampled: {}", SettingsName(s), why);
      sampler_.reset();
    }
  }
  LiveCounters* live() { return &live_; }

  void Finish(const Scenario& s, Measured& m) {
    if (!sampler_) return;
    sampler_->Stop();
    m.samples = sampler_->samples();
    m.sample_interval_ms = g_sample_interval_ms;
    const SamplerReport& r = sampler_->report();
    if (!r.census_error.empty()) {
      spdlog::warn("{}: sampler census failed: {}", SettingsName(s),
                   r.census_error);
    }
    if (r.dropped > 0) {
      spdlog::warn("{}: sampler buffer full, {} samples dropped",
                   SettingsName(s), r.dropped);
    }
    spdlog::info(
        "{}: sampler {} ticks, {:.1f} us mean, {:.1f} us max, last {:.1f} us "
        "with {} TIME_WAIT; {:.3f} s CPU in {:.3f} s of churn",
        SettingsName(s), r.ticks,
        r.ticks ? static_cast<double>(r.tick_ns_total) / 1e3 /
                      static_cast<double>(r.ticks)
                : 0.0,
        static_cast<double>(r.tick_ns_max) / 1e3,
        static_cast<double>(r.last_tick_ns) / 1e3,
        m.samples.empty() ? 0 : m.samples.back().time_wait, r.cpu_s,
        m.stats.seconds);
    sampler_.reset();
  }

 private:
  LiveCounters live_;
  std::optional<Sampler> sampler_;
};

bool AnyKnobSet(const TcpKnobs& k) {
  return k.tw_reuse || k.tw_reuse_delay_ms || k.port_range || k.max_tw_buckets;
}

void MeasureHere(const Scenario& s, Measured& m) {
  try {
    // Knobs are set in the run's own namespace, then read back: the row
    // carries what was in force, set or default.
    if (std::string why = ApplyTcpKnobs(s.knobs); !why.empty()) {
      m.error = "kernel knob: " + why;
      return;
    }
    m.knobs = ReadTcpKnobs();
    m.time_wait_at_start = ReadSockstat().tw;
    const TcpExtCounters before = ReadTcpExt();
    RunSampler sampler(s, {}, !g_isolate);
    m.stats = RunChurn(s, &g_interrupted, {}, sampler.live());
    if (m.stats.fatal.empty()) {
      m.census = CountTimeWait(s, m.stats.server_port);
      m.tcpext = Delta(ReadTcpExt(), before);
      m.sockstat_tw = ReadSockstat().tw;
    }
    sampler.Finish(s, m);
  } catch (const std::exception& e) {
    m.error = e.what();
  }
}

TcpExtCounters Sum(const TcpExtCounters& a, const TcpExtCounters& b) {
  return {a.tw + b.tw,
          a.tw_recycled + b.tw_recycled,
          a.tw_killed + b.tw_killed,
          a.tw_overflow + b.tw_overflow,
          a.listen_overflows + b.listen_overflows,
          a.listen_drops + b.listen_drops};
}

// Client and server in two fresh namespaces joined by a veth pair: knobs
// set in both, each end's TIME_WAIT and counters read in its own namespace.
void MeasureVeth(const Scenario& s, Measured& m) {
  std::string why;
  std::optional<VethTopology> topo = MakeVethTopology(&why);
  if (!topo) {
    m.error = "veth topology: " + why;
    return;
  }
  const std::string& server_ip =
      s.family == Family::kIPv4 ? topo->server_ipv4 : topo->server_ipv6;
  const std::string& client_ip =
      s.family == Family::kIPv4 ? topo->client_ipv4 : topo->client_ipv6;
  // client_bind=range/range_no_port bind the client's own veth address.
  Placement placement{&topo->client, &topo->server,
                      NumericAddress(s.family, server_ip, 0),
                      NumericAddress(s.family, client_ip, 0)};
  try {
    TcpExtCounters before[2];
    for (int i = 0; i < 2; ++i) {
      RunIn(i == 0 ? topo->client : topo->server, [&] {
        if (std::string e = ApplyTcpKnobs(s.knobs); !e.empty()) {
          throw std::runtime_error("kernel knob: " + e);
        }
        if (i == 0) m.knobs = ReadTcpKnobs();  // where connect() acts
        m.time_wait_at_start += ReadSockstat().tw;
        before[i] = ReadTcpExt();
      });
    }
    RunSampler sampler(s, {&topo->client, &topo->server}, false);
    m.stats = RunChurn(s, &g_interrupted, placement, sampler.live());
    if (!m.stats.fatal.empty()) {
      sampler.Finish(s, m);
      return;
    }
    CensusQuery q;
    q.states = StateBit(TcpState::kTimeWait);
    q.ipv4 = s.family == Family::kIPv4;
    q.ipv6 = s.family == Family::kIPv6;
    TcpExtCounters after[2];
    RunIn(topo->server, [&] {
      q.local_port = m.stats.server_port;
      SettledCounts c = CountTcpSocketsSettled(q, 2.0);
      m.census.server = c.counts.time_wait();
      m.census.settled = c.settled;
      after[1] = ReadTcpExt();
    });
    RunIn(topo->client, [&] {
      q.local_port.reset();
      q.remote_port = m.stats.server_port;
      SettledCounts c = CountTcpSocketsSettled(q, 2.0);
      m.census.client = c.counts.time_wait();
      m.census.settled = m.census.settled && c.settled;
      after[0] = ReadTcpExt();
    });
    m.tcpext = Sum(Delta(after[0], before[0]), Delta(after[1], before[1]));
    m.isolated = true;
    sampler.Finish(s, m);
  } catch (const std::exception& e) {
    m.error = e.what();
  }
}

Measured Measure(const Scenario& s) {
  Measured m;
  if (s.topology == Topology::kVeth) {
    if (!g_isolate) {
      m.error = std::string(kNotRunPrefix) +
                "topology veth needs network namespaces; this run has none "
                "(--isolate=off or no privilege)";
    } else {
      MeasureVeth(s, m);
    }
    return m;
  }
  if (!g_isolate && AnyKnobSet(s.knobs)) {
    // Writing them in the host namespace would change the host for good.
    m.error = std::string(kNotRunPrefix) +
              "kernel knobs are set per run in a network namespace of its "
              "own; this run has none (--isolate=off or no privilege)";
    return m;
  }
  if (g_isolate) {
    std::optional<std::string> why =
        RunInFreshNetns([&s, &m] { MeasureHere(s, m); });
    if (!why) {
      m.isolated = true;
      return m;
    }
    m.error = "network namespace: " + *why;
    return m;
  }
  MeasureHere(s, m);
  return m;
}

double Ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// Listener restarts (Scenario::restart_every). bind_failures (every failed
// bind()/listen() of a listener: restarts and the final rebind) is above.
void SetRestartCounters(benchmark::UserCounters& c, const ChurnStats& st) {
  const double bind_failures = static_cast<double>(
      st.errors.AtStep(Step::kBind) + st.errors.AtStep(Step::kListen));
  c["restarts"] = static_cast<double>(st.restarts);
  c["restarts_failed"] = static_cast<double>(st.restarts_failed);
  c["bind_fail_per_s"] = st.seconds > 0 ? bind_failures / st.seconds : 0;
  // 0 when no restart completed (see restarts, restarts_failed).
  c["restart_downtime_p50_ms"] = Ms(st.restart_downtime.Percentile(0.50));
  c["restart_downtime_max_ms"] = Ms(st.restart_downtime.max_ns());
  c["server_down_ms"] = Ms(st.server_down_ns);
  c["accept_queue_lost"] = static_cast<double>(st.accept_queue_lost);
}

// Client port binding and port exhaustion: where the client's attempts fail
// (bind or connect) and the rate before and after the first failure. NaN
// where there was no failure: no time, no rate after it.
void SetClientBindCounters(benchmark::UserCounters& c, const ChurnStats& st) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ErrorCounts& e = st.errors;
  c["client_bind_failures"] = static_cast<double>(st.client_bind_failures);
  // Not e.At(Step::kBind, ...): that step holds the listener's too.
  c["client_bind_eaddrinuse"] = static_cast<double>(st.client_bind_eaddrinuse);
  c["connect_eaddrnotavail"] =
      static_cast<double>(e.At(Step::kConnect, "EADDRNOTAVAIL"));
  const double before = static_cast<double>(st.completed_before_failure);
  c["completed_before_failure"] = before;
  if (!st.first_connect_failure_s) {
    c["first_connect_failure_s"] = nan;
    c["conn_per_s_before_failure"] =
        st.seconds > 0 ? static_cast<double>(st.completed) / st.seconds : 0;
    c["conn_per_s_after_failure"] = nan;
    return;
  }
  const double t = *st.first_connect_failure_s;
  c["first_connect_failure_s"] = t;
  c["conn_per_s_before_failure"] = t > 0 ? before / t : nan;
  const double after = static_cast<double>(st.completed) - before;
  c["conn_per_s_after_failure"] =
      st.seconds > t ? after / (st.seconds - t) : nan;
}

void SetCounters(benchmark::State& state, const Measured& m) {
  const ChurnStats& st = m.stats;
  const Census& census = m.census;
  const double done = static_cast<double>(st.completed);
  const double tw = static_cast<double>(census.server + census.client);
  auto& c = state.counters;
  SetRunCounters(c, st);
  c["time_wait"] = tw;
  c["time_wait_server"] = static_cast<double>(census.server);
  c["time_wait_client"] = static_cast<double>(census.client);
  c["time_wait_per_conn"] = done > 0 ? tw / done : 0;
  c["rebind_ok"] = st.rebind.bound ? 1 : 0;
  c["client_ports"] = static_cast<double>(st.client_ports_distinct);
  c["server_forced_closes"] = static_cast<double>(st.server_forced_closes);
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
  c["rebind_wait_ms"] = Ms(st.rebind.wait_ns);
  // Established at the client, never accepted by the server (e.g. dropped
  // by libuv when out of fds): docs/engine-limits.md.
  c["not_accepted"] = static_cast<double>(st.not_accepted);
}

std::string Label(const ChurnStats& st) {
  std::string label = "rebind=";
  label += st.rebind.bound ? "bound" : uv_err_name(st.rebind.error);
  if (!st.rebind.blockers.empty()) label += "(" + st.rebind.blockers + ")";
  if (g_interrupted.load()) {
    label += ",interrupted";
  } else if (st.hit_time_limit) {
    label += ",time_limit";
  }
  return label;
}

void BM_Churn(benchmark::State& state, const Scenario& s) {
  for (auto _ : state) {
    if (g_interrupted.load()) {
      state.SkipWithError(InterruptedMessage().c_str());
      break;
    }
    // The engine times the churn itself (`seconds`); Google Benchmark's
    // real time also holds thread start-up and the census.
    const Measured m = Measure(s);
    // Every run counts as a repetition of its name, rows or not.
    if (g_timeseries != nullptr) {
      g_timeseries->WriteRun("BM_Churn/" + SettingsName(s), m.samples);
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
    SetCounters(state, m);
    state.SetLabel(Label(st));
    if (!st.errors.Summary().empty()) {
      spdlog::info("{}: {}", SettingsName(s), st.errors.Summary());
    }
  }
}

}  // namespace

std::map<std::string, Scenario> RegisterChurnBenchmarks(
    const std::vector<Scenario>& matrix) {
  std::map<std::string, Scenario> by_name;
  for (const Scenario& s : matrix) {
    std::string name = "BM_Churn/" + SettingsName(s);
    benchmark::RegisterBenchmark(name.c_str(), BM_Churn, s)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    by_name.emplace(name, s);
  }
  return by_name;
}

}  // namespace twbench
