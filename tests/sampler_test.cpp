// The time-series sampler against the real kernel: churn runs in fresh
// network namespaces sampled every 20 ms, checked against the engine's final
// stats and a settled census; the writer's fixed format; and the twbench
// binary writing a time series beside its results CSV.
#include "twbench/sampler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netns_skip.h"
#include "run_twbench.h"
#include "twbench/churn.h"
#include "twbench/listener.h"
#include "twbench/netns.h"
#include "twbench/socket_census.h"
#include "twbench/timeseries_writer.h"
#include "twbench/topology.h"

namespace twbench {
namespace {

constexpr int kIntervalMs = 20;

// Exact counts need a namespace no other run shares.
void Isolated(const std::function<void()>& body) {
  std::optional<std::string> why = RunInFreshNetns(body);
  if (why) GTEST_SKIP() << "needs a network namespace: " << *why;
}

Scenario Churn(Closer closer, std::uint64_t connections, double seconds) {
  Scenario s;
  s.closer = closer;
  s.reuseaddr = true;
  s.concurrency = 8;
  s.connections = connections;
  s.time_limit_s = seconds;
  return s;
}

SamplerSettings Every20ms(double seconds) {
  SamplerSettings settings;
  settings.interval_ms = kIntervalMs;
  settings.capacity = SampleCapacity(seconds, kIntervalMs);
  settings.ipv6 = false;  // the runs here are IPv4
  return settings;
}

// TIME_WAIT of this thread's namespace once nothing is closing any more.
std::uint64_t SettledTimeWait(std::optional<std::uint16_t> local = {},
                              std::optional<std::uint16_t> remote = {}) {
  CensusQuery q;
  q.states = StateBit(TcpState::kTimeWait);
  q.ipv6 = false;
  q.local_port = local;
  q.remote_port = remote;
  SettledCounts c = CountTcpSocketsSettled(q, 2.0);
  EXPECT_TRUE(c.settled) << "sockets still closing after 2 s";
  return c.counts.time_wait();
}

void ExpectCleanEnd(const Sampler& sampler) {
  const SamplerReport& r = sampler.report();
  EXPECT_EQ(r.loop_close_rc, 0);
  EXPECT_EQ(r.handles_closed, 2);  // timer and async
  EXPECT_EQ(r.dropped, 0u);
  EXPECT_EQ(r.census_error, "");
  EXPECT_EQ(r.ticks, sampler.samples().size());
}

void ExpectInOrderAndMonotonic(const std::vector<Sample>& v) {
  for (std::size_t i = 1; i < v.size(); ++i) {
    EXPECT_GT(v[i].t_s, v[i - 1].t_s) << "sample " << i;
    EXPECT_GE(v[i].attempted, v[i - 1].attempted) << "sample " << i;
    EXPECT_GE(v[i].completed, v[i - 1].completed) << "sample " << i;
    EXPECT_GE(v[i].errors, v[i - 1].errors) << "sample " << i;
    EXPECT_GE(v[i].connect_errors, v[i - 1].connect_errors) << "sample " << i;
    EXPECT_GE(v[i].bind_failures, v[i - 1].bind_failures) << "sample " << i;
  }
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

TEST(SamplerTest, ChurnAt20msSamplesInOrderAndEndsAtTheRunsCounts) {
  Isolated([] {
    // A second of churn: about 50 ticks on a machine that gives the sampler
    // its CPU. How many it gets is timing, not checked here: beside other
    // runs a tick's census (it walks the kernel's whole socket table, every
    // namespace's TIME_WAIT) took 0.14-0.63 s, and the thread waited up to
    // 0.8 s for a CPU (CI, TSan: 2 samples in half a second).
    const Scenario s = Churn(Closer::kServer, 10000000, 1.0);
    LiveCounters live;
    Sampler sampler(Every20ms(s.time_limit_s), live);
    ASSERT_EQ(sampler.Start(), "");
    const ChurnStats st = RunChurn(s, nullptr, {}, &live);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    const std::uint64_t settled = SettledTimeWait();
    sampler.Stop();
    ExpectCleanEnd(sampler);

    const std::vector<Sample>& v = sampler.samples();
    ASSERT_GE(v.size(), 2u);  // the first and the final
    EXPECT_LT(v.front().t_s, 0.1);
    ExpectInOrderAndMonotonic(v);
    // Ticks, not the final sample at Stop: never much before the interval
    // (libuv's loop time has 1 ms steps).
    for (std::size_t i = 1; i + 1 < v.size(); ++i) {
      EXPECT_GE(v[i].t_s - v[i - 1].t_s, 0.5 * kIntervalMs / 1e3)
          << "tick " << i;
    }
    // The final sample was taken after the run and its settled census.
    EXPECT_EQ(v.back().attempted, st.client.attempted);
    EXPECT_EQ(v.back().completed, st.client.completed);
    EXPECT_GT(settled, 0u);
    EXPECT_EQ(static_cast<std::uint64_t>(v.back().time_wait), settled);
    EXPECT_EQ(v.back().established, 0);
    EXPECT_EQ(v.back().fin_wait1 + v.back().fin_wait2 + v.back().close_wait +
                  v.back().last_ack,
              0);
    std::size_t during = 0;
    while (during < v.size() && v[during].t_s < st.client.seconds) ++during;
    // TIME_WAIT piles up during the run, not only at its end. A sample's
    // census ends before the next tick begins: the one before the churn's
    // last tick counted within the churn (when the machine gave the sampler
    // that many ticks).
    if (during >= 3) {
      const Sample& inside = v[during - 2];
      EXPECT_GT(inside.time_wait, 0) << "at " << inside.t_s << " s";
      EXPECT_LT(inside.time_wait, v.back().time_wait)
          << "at " << inside.t_s << " s of " << st.client.seconds;
    }
  });
}

// The series' bind_failures counts what the results row counts: the client's
// failed binds (client_bind=range wrapping onto its own TIME_WAIT) as well as
// the listener's.
TEST(SamplerTest, BindFailuresIncludeTheClientsBinds) {
  Isolated([] {
    Scenario s = Churn(Closer::kClient, 300, 5.0);
    s.client_bind = ClientBind::kRange;
    s.client_port_min = 21000;
    s.client_port_max = 21099;  // 100 ports for 300 connections
    LiveCounters live;
    Sampler sampler(Every20ms(s.time_limit_s), live);
    ASSERT_EQ(sampler.Start(), "");
    const ChurnStats st = RunChurn(s, nullptr, {}, &live);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    sampler.Stop();
    ExpectCleanEnd(sampler);
    const std::vector<Sample>& v = sampler.samples();
    ASSERT_FALSE(v.empty());
    ExpectInOrderAndMonotonic(v);
    EXPECT_GT(st.client.client_bind_failures, 0u) << st.errors().Summary();
    EXPECT_EQ(v.back().bind_failures, st.errors().AtStep(Step::kBind) +
                                          st.errors().AtStep(Step::kListen));
  });
}

TEST(SamplerTest, SharedNamespaceCountsOnlyTheRunsServerPort) {
  Isolated([] {
    // An earlier run's TIME_WAIT on another port, as a host namespace has.
    const ChurnStats other = RunChurn(Churn(Closer::kServer, 300, 10));
    ASSERT_TRUE(other.fatal.empty()) << other.fatal;
    const std::uint64_t foreign = SettledTimeWait();
    ASSERT_GT(foreign, 0u);

    LiveCounters live;
    SamplerSettings settings = Every20ms(10);
    settings.filter_by_server_port = true;
    Sampler sampler(settings, live);
    ASSERT_EQ(sampler.Start(), "");
    const ChurnStats st =
        RunChurn(Churn(Closer::kServer, 500, 10), nullptr, {}, &live);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    const std::uint64_t own =
        SettledTimeWait(st.server_port) + SettledTimeWait({}, st.server_port);
    const std::uint64_t all = SettledTimeWait();
    sampler.Stop();
    ExpectCleanEnd(sampler);
    ASSERT_FALSE(sampler.samples().empty());
    const Sample& last = sampler.samples().back();
    EXPECT_EQ(last.completed, st.client.completed);
    EXPECT_GT(own, 0u);
    EXPECT_EQ(static_cast<std::uint64_t>(last.time_wait), own);
    EXPECT_EQ(all, own + foreign) << "the other run's sockets are still there";
  });
}

TEST(SamplerTest, InterruptedRunStillWritesItsRows) {
  Isolated([] {
    const Scenario s = Churn(Closer::kClient, 10000000, 10);
    std::atomic<bool> stop{false};
    LiveCounters live;
    Sampler sampler(Every20ms(s.time_limit_s), live);
    ASSERT_EQ(sampler.Start(), "");
    // 300 ms of 20 ms ticks; how many a loaded machine gives the sampler
    // thread is timing (200 ms gave 2 under a load of 9): the first sample
    // and the final one are what the rows need.
    std::thread interrupter([&stop] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      stop.store(true);
    });
    const ChurnStats st = RunChurn(s, &stop, {}, &live);
    interrupter.join();
    sampler.Stop();
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_LT(st.client.seconds, 5.0) << "the stop flag ended the run";
    ExpectCleanEnd(sampler);
    ASSERT_GE(sampler.samples().size(), 2u);

    std::ostringstream out;
    TimeseriesWriter writer(out);
    writer.WriteRun("BM_Churn/interrupted", sampler.samples());
    const std::vector<std::string> lines = Lines(out.str());
    ASSERT_EQ(lines.size(), 1 + sampler.samples().size());
    const std::vector<std::string> last = Split(lines.back(), ',');
    ASSERT_EQ(last.size(), 15u);
    EXPECT_EQ(last[0], "BM_Churn/interrupted");
    EXPECT_EQ(last[1], "0");
    EXPECT_EQ(last[4], std::to_string(st.client.completed));
  });
}

TEST(SamplerTest, VethSumsBothNamespaces) {
  SKIP_WITHOUT_NETNS();
  std::string why;
  std::optional<VethTopology> topo = MakeVethTopology(&why);
  if (!topo) GTEST_SKIP() << "no veth topology: " << why;
  const Placement placement{&topo->client,
                            &topo->server,
                            NumericAddress(Family::kIPv4, topo->server_ipv4, 0),
                            NumericAddress(Family::kIPv4, topo->client_ipv4, 0),
                            {}};
  // First TIME_WAIT on the server's side, then on the client's: the second
  // run's series must count both namespaces.
  const ChurnStats first =
      RunChurn(Churn(Closer::kServer, 300, 10), nullptr, placement);
  ASSERT_TRUE(first.fatal.empty()) << first.fatal;

  LiveCounters live;
  SamplerSettings settings = Every20ms(10);
  settings.namespaces = {&topo->client, &topo->server};
  Sampler sampler(settings, live);
  ASSERT_EQ(sampler.Start(), "");
  const ChurnStats st =
      RunChurn(Churn(Closer::kClient, 400, 10), nullptr, placement, &live);
  ASSERT_TRUE(st.fatal.empty()) << st.fatal;
  std::uint64_t server_tw = 0, client_tw = 0;
  RunIn(topo->server, [&] { server_tw = SettledTimeWait(); });
  RunIn(topo->client, [&] { client_tw = SettledTimeWait(); });
  sampler.Stop();
  ExpectCleanEnd(sampler);
  ASSERT_FALSE(sampler.samples().empty());
  const Sample& last = sampler.samples().back();
  EXPECT_EQ(last.completed, st.client.completed);
  EXPECT_GT(server_tw, 0u);
  EXPECT_GT(client_tw, 0u);
  EXPECT_EQ(static_cast<std::uint64_t>(last.time_wait), server_tw + client_tw);
  ExpectInOrderAndMonotonic(sampler.samples());
}

TEST(SamplerTest, UnusableNamespaceFailsToStartAndRunsNothing) {
  LiveCounters live;
  SamplerSettings settings = Every20ms(1);
  const NetNamespace invalid;
  settings.namespaces = {&invalid};
  Sampler sampler(settings, live);
  EXPECT_NE(sampler.Start(), "");
  sampler.Stop();  // nothing to stop
  EXPECT_TRUE(sampler.samples().empty());
}

TEST(SampleCapacityTest, CoversTheRunAndItsCensusWithinTheCap) {
  EXPECT_GE(SampleCapacity(30, 100), 300u);
  EXPECT_LE(SampleCapacity(30, 100), 400u);
  EXPECT_EQ(SampleCapacity(86400, 1), kMaxSamples);
  EXPECT_EQ(SampleCapacity(1e300, 1), kMaxSamples);
  EXPECT_EQ(SampleCapacity(30, 0), 0u);
}

TEST(TimeseriesWriterTest, HeaderIsTheFixedOne) {
  std::ostringstream out;
  TimeseriesWriter writer(out);
  EXPECT_EQ(out.str(),
            "name,repetition,t_s,attempted,completed,errors,connect_errors,"
            "bind_failures,restarts,time_wait,established,fin_wait1,"
            "fin_wait2,close_wait,last_ack\n");
}

TEST(TimeseriesWriterTest, RowsCountRepetitionsPerName) {
  std::ostringstream out;
  TimeseriesWriter writer(out);
  Sample a;
  a.t_s = 0.0001234;
  Sample b{0.1, 10, 9, 1, 1, 0, 0, 7, 2, 0, 1, 0, 0};
  Sample failed = b;
  failed.time_wait = -1;
  writer.WriteRun("BM_Churn/x", {a, b});
  writer.WriteRun("BM_Churn/y", {failed});
  writer.WriteRun("BM_Churn/x", {});  // a run without rows still counts
  writer.WriteRun("BM_Churn/x", {b});
  EXPECT_EQ(
      Lines(out.str()),
      (std::vector<std::string>{
          kTimeseriesHeader, "BM_Churn/x,0,0.000123,0,0,0,0,0,0,0,0,0,0,0,0",
          "BM_Churn/x,0,0.100000,10,9,1,1,0,0,7,2,0,1,0,0",
          "BM_Churn/y,0,0.100000,10,9,1,1,0,0,-1,2,0,1,0,0",
          "BM_Churn/x,2,0.100000,10,9,1,1,0,0,7,2,0,1,0,0"}));
}

// The binary end to end: two repetitions sampled into --timeseries, their
// rows named and numbered as the results CSV's rows.
using ::twbench::testing::Outcome;
using ::twbench::testing::RunTwbench;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/twbench_sampler_" +
         std::to_string(getpid()) + "_" + name;
}

TEST(TimeseriesCliTest, EveryRepetitionWritesItsRowsBesideTheResults) {
  const std::string ts = TempPath("ts.csv");
  const std::string csv = TempPath("results.csv");
  Outcome o = RunTwbench(
      "--reuseaddr=1 --closer=server --concurrency=8 --payload=0 "
      "--connections=2000 --benchmark_repetitions=2 "
      "--benchmark_filter=BM_Churn "
      "--sample_interval_ms=20 --timeseries=" +
      ts + " --csv=" + csv);
  ASSERT_EQ(o.status, 0) << o.output;
  const std::vector<std::string> rows = Lines(ReadFile(ts));
  const std::vector<std::string> results = Lines(ReadFile(csv));
  std::remove(ts.c_str());
  std::remove(csv.c_str());
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[0], kTimeseriesHeader);

  // The last sample of each repetition, by (name, repetition).
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> last;
  std::string previous;
  std::vector<std::string> order;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> f = Split(rows[i], ',');
    ASSERT_EQ(f.size(), 15u) << rows[i];
    const std::string run = f[0] + "#" + f[1];
    if (run != previous) order.push_back(run);
    previous = run;
    last[{f[0], f[1]}] = f;
  }
  EXPECT_EQ(order.size(), 2u) << "two runs, each contiguous";

  ASSERT_GE(results.size(), 2u);
  const std::vector<std::string> header = Split(results[0], ',');
  auto column = [&header](const std::string& name) {
    return static_cast<std::size_t>(
        std::find(header.begin(), header.end(), name) - header.begin());
  };
  int iterations = 0;
  for (std::size_t i = 1; i < results.size(); ++i) {
    std::vector<std::string> f = Split(results[i], ',');
    if (f[column("run_type")] != "iteration") continue;
    ++iterations;
    // "BM_Churn/<settings>/iterations:1/real_time" starts with the series'.
    const std::string name = f[column("name")];
    const std::string series_name = name.substr(0, name.find("/iterations:"));
    auto it = last.find({series_name, f[column("repetition")]});
    ASSERT_NE(it, last.end()) << name;
    EXPECT_EQ(it->second[4], f[column("connections")]) << name;
    EXPECT_EQ(it->second[9], f[column("time_wait")]) << name;
  }
  EXPECT_EQ(iterations, 2);
}

TEST(TimeseriesCliTest, BadIntervalOrPathExitsTwoNamingTheSetting) {
  for (const char* arg :
       {"--sample_interval_ms=-1", "--sample_interval_ms=abc",
        "--sample_interval_ms=60001", "--timeseries=/nonexistent-dir/ts.csv"}) {
    Outcome o = RunTwbench(arg);
    EXPECT_EQ(o.status, 2) << arg << ": " << o.output;
    const std::string name =
        std::string(arg).substr(0, std::string(arg).find('='));
    EXPECT_NE(o.output.find(name), std::string::npos) << o.output;
  }
}

}  // namespace
}  // namespace twbench
