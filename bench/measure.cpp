// One churn run measured where it ran (bench/measure.h).
#include "measure.h"

#include <exception>
#include <optional>
#include <stdexcept>

#include "spdlog/spdlog.h"
#include "twbench/churn.h"
#include "twbench/listener.h"
#include "twbench/netns.h"
#include "twbench/sampler.h"
#include "twbench/settings.h"
#include "twbench/socket_census.h"
#include "twbench/topology.h"

namespace twbench {
namespace {

// The run's own TIME_WAIT sockets: the server port is fresh for every run,
// so filtering by it in the kernel leaves out every other run's sockets.
// Counted once the last FINs and ACKs of the run have been processed.
Census CountTimeWait(const Scenario& s, std::uint16_t server_port) {
  const SettledCounts server = CountRunTimeWait(s, server_port, true);
  const SettledCounts client = CountRunTimeWait(s, server_port, false);
  return {server.counts.time_wait(), client.counts.time_wait(),
          server.settled && client.settled};
}

// The time series of one run: sampling starts before the churn and stops
// after the run's settled census, so the last sample counts what the row's
// time_wait counts.
class RunSampler {
 public:
  // `namespaces`: where the run's sockets are (empty: this thread's);
  // `shared`: a namespace other sockets live in too (filter by the port).
  RunSampler(const Scenario& s, const RunState& run,
             std::vector<const NetNamespace*> namespaces, bool shared)
      : interval_ms_(run.timeseries != nullptr ? run.sample_interval_ms : 0) {
    if (interval_ms_ <= 0) return;
    SamplerSettings settings;
    settings.interval_ms = interval_ms_;
    settings.capacity = SampleCapacity(s.time_limit_s, interval_ms_);
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
    m.sample_interval_ms = interval_ms_;
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
        m.stats.client.seconds);
    sampler_.reset();
  }

 private:
  int interval_ms_;  // 0: not sampled
  LiveCounters live_;
  std::optional<Sampler> sampler_;
};

}  // namespace

bool AnyKnobSet(const TcpKnobs& k) {
  return k.tw_reuse || k.tw_reuse_delay_ms || k.port_range || k.max_tw_buckets;
}

SettledCounts CountRunTimeWait(
    const Scenario& s, std::uint16_t server_port, bool server_side,
    const std::optional<sockaddr_storage>& server_address) {
  CensusQuery q;
  (server_side ? q.local_address : q.remote_address) = server_address;
  q.states = StateBit(TcpState::kTimeWait);
  q.ipv4 = s.family == Family::kIPv4;
  q.ipv6 = s.family == Family::kIPv6;
  (server_side ? q.local_port : q.remote_port) = server_port;
  return CountTcpSocketsSettled(q, 2.0);
}

Counters ReadCounters() {
  return {ReadTcpExt(), ReadTcp(), ReadTcpExtAborts()};
}

void AddDelta(Measured& m, const Counters& after, const Counters& before) {
  const TcpExtCounters d = Delta(after.tcpext, before.tcpext);
  m.tcpext.tw += d.tw;
  m.tcpext.tw_recycled += d.tw_recycled;
  m.tcpext.tw_killed += d.tw_killed;
  m.tcpext.tw_overflow += d.tw_overflow;
  m.tcpext.listen_overflows += d.listen_overflows;
  m.tcpext.listen_drops += d.listen_drops;
  m.out_rsts += Delta(after.tcp, before.tcp).out_rsts;
  m.abort_rsts += Delta(after.aborts, before.aborts).total();
}

namespace {

void MeasureHere(const Scenario& s, const RunState& run, Measured& m) {
  try {
    // Knobs are set in the run's own namespace, then read back: the row
    // carries what was in force, set or default.
    if (std::string why = ApplyTcpKnobs(s.knobs); !why.empty()) {
      m.error = "kernel knob: " + why;
      return;
    }
    m.knobs = ReadTcpKnobs();
    m.time_wait_at_start = ReadSockstat().tw;
    const Counters before = ReadCounters();
    RunSampler sampler(s, run, {}, !run.isolate);
    m.stats = RunChurn(s, run.stop, {}, sampler.live());
    if (m.stats.fatal.empty()) {
      m.census = CountTimeWait(s, m.stats.server_port);
      AddDelta(m, ReadCounters(), before);
      m.sockstat_tw = ReadSockstat().tw;
    }
    sampler.Finish(s, m);
  } catch (const std::exception& e) {
    m.error = e.what();
  }
}

// Each end's TIME_WAIT and counters, read in its own namespace.
void CountVeth(const Scenario& s, const VethTopology& topo,
               const Counters before[2], Measured& m) {
  RunIn(topo.server, [&] {
    SettledCounts c = CountRunTimeWait(s, m.stats.server_port, true);
    m.census.server = c.counts.time_wait();
    m.census.settled = c.settled;
    AddDelta(m, ReadCounters(), before[1]);
  });
  RunIn(topo.client, [&] {
    SettledCounts c = CountRunTimeWait(s, m.stats.server_port, false);
    m.census.client = c.counts.time_wait();
    m.census.settled = m.census.settled && c.settled;
    AddDelta(m, ReadCounters(), before[0]);
  });
}

// Client and server in two fresh namespaces joined by a veth pair: knobs
// set in both, each end's TIME_WAIT and counters read in its own namespace.
void MeasureVeth(const Scenario& s, const RunState& run, Measured& m) {
  std::string why;
  std::optional<VethTopology> topo = MakeVethTopology(&why, s.client_addrs);
  if (!topo) {
    m.error = "veth topology: " + why;
    return;
  }
  const bool v4 = s.family == Family::kIPv4;
  // client_bind=range/range_no_port bind the client's own veth address.
  Placement placement{
      &topo->client, &topo->server,
      NumericAddress(s.family, v4 ? topo->server_ipv4 : topo->server_ipv6, 0),
      NumericAddress(s.family, v4 ? topo->client_ipv4 : topo->client_ipv6, 0),
      ClientSources(*topo, s.family)};
  try {
    Counters before[2];
    for (int i = 0; i < 2; ++i) {
      RunIn(i == 0 ? topo->client : topo->server, [&] {
        if (std::string e = ApplyTcpKnobs(s.knobs); !e.empty()) {
          throw std::runtime_error("kernel knob: " + e);
        }
        if (i == 0) m.knobs = ReadTcpKnobs();  // where connect() acts
        m.time_wait_at_start += ReadSockstat().tw;
        before[i] = ReadCounters();
      });
    }
    RunSampler sampler(s, run, {&topo->client, &topo->server}, false);
    m.stats = RunChurn(s, run.stop, placement, sampler.live());
    if (m.stats.fatal.empty()) {
      CountVeth(s, *topo, before, m);
      m.isolated = true;
    }
    sampler.Finish(s, m);
  } catch (const std::exception& e) {
    m.error = e.what();
  }
}

}  // namespace

Measured Measure(const Scenario& s, const RunState& run) {
  Measured m;
  if (s.topology == Topology::kVeth) {
    if (!run.isolate) {
      m.error = std::string(kNotRunPrefix) +
                "topology veth needs network namespaces; this run has none "
                "(--isolate=off or no privilege)";
    } else {
      MeasureVeth(s, run, m);
    }
    return m;
  }
  if (!run.isolate && AnyKnobSet(s.knobs)) {
    // Writing them in the host namespace would change the host for good.
    m.error = std::string(kNotRunPrefix) +
              "kernel knobs are set per run in a network namespace of its "
              "own; this run has none (--isolate=off or no privilege)";
    return m;
  }
  if (run.isolate) {
    std::optional<std::string> why =
        RunInFreshNetns([&s, &run, &m] { MeasureHere(s, run, m); });
    if (!why) {
      m.isolated = true;
      return m;
    }
    m.error = "network namespace: " + *why;
    return m;
  }
  MeasureHere(s, run, m);
  return m;
}

}  // namespace twbench
