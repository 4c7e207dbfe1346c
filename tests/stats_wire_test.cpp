// A run's stats survive the trip through bytes whole: a real run's (two
// loops, restarts, errors, a latency histogram, ports seen) and one with
// every field away from its default; bytes cut short, with a byte too many
// or from another format version are refused.
#include "twbench/stats_wire.h"

#include <gtest/gtest.h>

#include <string>

#include "netns_skip.h"
#include "twbench/churn.h"

namespace twbench {
namespace {

// What a row shows of the stats, field by field.
void ExpectSame(const ChurnStats& a, const ChurnStats& b) {
  EXPECT_EQ(a.client.attempted, b.client.attempted);
  EXPECT_EQ(a.client.completed, b.client.completed);
  EXPECT_EQ(a.client.connected, b.client.connected);
  EXPECT_EQ(a.client.resets, b.client.resets);
  EXPECT_EQ(a.client.unfinished, b.client.unfinished);
  EXPECT_EQ(a.client.seconds, b.client.seconds);
  EXPECT_EQ(a.client.hit_time_limit, b.client.hit_time_limit);
  EXPECT_EQ(a.client.errors.Summary(), b.client.errors.Summary());
  EXPECT_EQ(a.client.latency.count(), b.client.latency.count());
  EXPECT_EQ(a.client.latency.min_ns(), b.client.latency.min_ns());
  EXPECT_EQ(a.client.latency.max_ns(), b.client.latency.max_ns());
  EXPECT_EQ(a.client.latency.mean_ns(), b.client.latency.mean_ns());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    EXPECT_EQ(a.client.latency.Percentile(q), b.client.latency.Percentile(q));
  }
  EXPECT_EQ(a.client.client_ports_distinct, b.client.client_ports_distinct);
  EXPECT_EQ(a.client.tuple_reuses, b.client.tuple_reuses);
  EXPECT_EQ(a.client.ports_seen, b.client.ports_seen);
  EXPECT_EQ(a.client.cpu_user_ns, b.client.cpu_user_ns);
  EXPECT_EQ(a.client.cpu_sys_ns, b.client.cpu_sys_ns);
  EXPECT_EQ(a.client.client_bind_failures, b.client.client_bind_failures);
  EXPECT_EQ(a.client.client_bind_eaddrinuse, b.client.client_bind_eaddrinuse);
  EXPECT_EQ(a.client.first_connect_failure_s, b.client.first_connect_failure_s);
  EXPECT_EQ(a.client.completed_before_failure,
            b.client.completed_before_failure);
  EXPECT_EQ(a.client.client_reuseaddr, b.client.client_reuseaddr);
  EXPECT_EQ(a.server.accepted, b.server.accepted);
  EXPECT_EQ(a.server.server_forced_closes, b.server.server_forced_closes);
  EXPECT_EQ(a.server.errors.Summary(), b.server.errors.Summary());
  EXPECT_EQ(a.server.listener_reuseaddr, b.server.listener_reuseaddr);
  EXPECT_EQ(a.server.listener_reuseport, b.server.listener_reuseport);
  EXPECT_EQ(a.server.rebind.attempted, b.server.rebind.attempted);
  EXPECT_EQ(a.server.rebind.bound, b.server.rebind.bound);
  EXPECT_EQ(a.server.rebind.failed_step, b.server.rebind.failed_step);
  EXPECT_EQ(a.server.rebind.error, b.server.rebind.error);
  EXPECT_EQ(a.server.rebind.blockers, b.server.rebind.blockers);
  EXPECT_EQ(a.server.rebind.wait_ns, b.server.rebind.wait_ns);
  EXPECT_EQ(a.server.rebind.wait_settled, b.server.rebind.wait_settled);
  EXPECT_EQ(a.server.restarts, b.server.restarts);
  EXPECT_EQ(a.server.restarts_failed, b.server.restarts_failed);
  EXPECT_EQ(a.server.restart_downtime.count(),
            b.server.restart_downtime.count());
  EXPECT_EQ(a.server.restart_downtime.Percentile(0.5),
            b.server.restart_downtime.Percentile(0.5));
  EXPECT_EQ(a.server.restart_downtime.max_ns(),
            b.server.restart_downtime.max_ns());
  EXPECT_EQ(a.server.server_down_ns, b.server.server_down_ns);
  EXPECT_EQ(a.server.accept_queue_lost, b.server.accept_queue_lost);
  EXPECT_EQ(a.server.restart_reuseaddr, b.server.restart_reuseaddr);
  EXPECT_EQ(a.server.accept_pauses, b.server.accept_pauses);
  EXPECT_EQ(a.server.drain_waited_for_accepts,
            b.server.drain_waited_for_accepts);
  EXPECT_EQ(a.server.cpu_user_ns, b.server.cpu_user_ns);
  EXPECT_EQ(a.server.cpu_sys_ns, b.server.cpu_sys_ns);
  EXPECT_EQ(a.server_port, b.server_port);
  EXPECT_EQ(a.accepted_per_loop, b.accepted_per_loop);
  EXPECT_EQ(a.fatal, b.fatal);
}

ChurnStats RoundTrip(const ChurnStats& st) {
  const std::string bytes = PackChurnStats(st);
  std::optional<ChurnStats> back = UnpackChurnStats(bytes);
  EXPECT_TRUE(back.has_value());
  if (!back) return {};
  // Nothing read is lost on the way back either.
  EXPECT_EQ(PackChurnStats(*back), bytes);
  return *back;
}

TEST(StatsWireTest, ARealRunComesBackWhole) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    Scenario s;
    s.closer = Closer::kServer;
    s.reuseaddr = true;
    s.loops = 2;
    s.concurrency = 8;
    s.connections = 600;
    s.restart_every = 200;
    s.time_limit_s = 20;
    const ChurnStats st = RunChurn(s);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    ASSERT_EQ(st.client.attempted, 600u);
    ASSERT_GT(st.client.latency.count(), 0u);
    ASSERT_GT(st.server.restarts, 0u);
    ASSERT_EQ(st.accepted_per_loop.size(), 2u);
    ExpectSame(st, RoundTrip(st));
  });
}

TEST(StatsWireTest, EveryFieldAwayFromItsDefaultComesBack) {
  ChurnStats st;
  st.client.attempted = 11;
  st.client.completed = 7;
  st.client.connected = 9;
  st.client.resets = 2;
  st.client.unfinished = 1;
  st.client.seconds = 1.25;
  st.client.hit_time_limit = true;
  st.client.errors.AddNamed(Step::kConnect, "ECONNREFUSED", 3);
  st.client.errors.AddNamed(Step::kRead, "ETIMEDOUT");
  for (std::uint64_t ns : {1000u, 25000u, 4000000u})
    st.client.latency.Record(ns);
  st.client.ports_seen.resize(2);
  st.client.ports_seen[0].set(40000);
  st.client.ports_seen[1].set(65535);
  st.client.client_ports_distinct = 2;
  st.client.tuple_reuses = 5;
  st.client.cpu_user_ns = 123;
  st.client.cpu_sys_ns = 456;
  st.client.client_bind_failures = 4;
  st.client.client_bind_eaddrinuse = 3;
  st.client.first_connect_failure_s = 0.5;
  st.client.completed_before_failure = 6;
  st.client.client_reuseaddr = 1;
  st.server.accepted = 8;
  st.server.server_forced_closes = 1;
  st.server.errors.AddNamed(Step::kAccept, "EMFILE", 2);
  st.server.listener_reuseaddr = 0;
  st.server.listener_reuseport = 1;
  st.server.rebind = {true, false, Step::kListen, -98, "TIME_WAIT=200",
                      77,   true};
  st.server.restarts = 3;
  st.server.restarts_failed = 1;
  st.server.restart_downtime.Record(35000);
  st.server.server_down_ns = 99;
  st.server.accept_queue_lost = 4;
  st.server.restart_reuseaddr = 1;
  st.server.accept_pauses = 2;
  st.server.drain_waited_for_accepts = true;
  st.server.cpu_user_ns = 789;
  st.server.cpu_sys_ns = 1011;
  st.server_port = 47000;
  st.accepted_per_loop = {5, 3};
  st.fatal = "client loop setup: uv_loop_init: EMFILE";
  ExpectSame(st, RoundTrip(st));
}

TEST(StatsWireTest, BytesThatAreNotExactlyOneStatsAreRefused) {
  ChurnStats st;
  st.client.attempted = 1;
  st.client.errors.AddNamed(Step::kConnect, "ECONNREFUSED");
  st.client.ports_seen.resize(1);
  st.fatal = "x";
  const std::string bytes = PackChurnStats(st);
  ASSERT_TRUE(UnpackChurnStats(bytes).has_value());
  // Cut anywhere: refused. (Every 8th byte: the numbers are 8 bytes wide.)
  for (std::size_t n = 0; n < bytes.size(); n += n < 64 ? 1 : 8) {
    EXPECT_FALSE(UnpackChurnStats(bytes.substr(0, n)).has_value()) << n;
  }
  EXPECT_FALSE(UnpackChurnStats(bytes + '\0').has_value());
  std::string other_version = bytes;
  other_version[8] ^= 1;  // the version follows the 8-byte magic
  EXPECT_FALSE(UnpackChurnStats(other_version).has_value());
  EXPECT_FALSE(UnpackChurnStats("").has_value());
}

}  // namespace
}  // namespace twbench
