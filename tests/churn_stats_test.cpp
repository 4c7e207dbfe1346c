// Error counts by step and errno name, the latency histogram's percentiles
// against exact values of known distributions, and the merge of per-loop
// stats.
#include "twbench/churn_stats.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace twbench {
namespace {

TEST(ErrorCountsTest, CountsByStepAndErrnoName) {
  ErrorCounts e;
  e.Add(Step::kConnect, UV_ECONNREFUSED);
  e.Add(Step::kConnect, UV_ECONNREFUSED);
  e.Add(Step::kRead, UV_ETIMEDOUT);
  e.Add(Step::kBind, UV_EADDRINUSE);
  e.AddNamed(Step::kRead, "EOF");
  EXPECT_EQ(e.Total(), 5u);
  EXPECT_EQ(e.AtStep(Step::kConnect), 2u);
  EXPECT_EQ(e.At(Step::kConnect, "ECONNREFUSED"), 2u);
  EXPECT_EQ(e.ByName("ETIMEDOUT"), 1u);
  EXPECT_EQ(e.ByName("EADDRINUSE"), 1u);
  EXPECT_EQ(e.AtStep(Step::kAccept), 0u);
  EXPECT_EQ(e.Summary(),
            "connect:ECONNREFUSED=2 read:EOF=1 read:ETIMEDOUT=1 "
            "bind:EADDRINUSE=1");
  ErrorCounts other;
  other.Add(Step::kConnect, UV_ECONNREFUSED, 3);
  e.Merge(other);
  EXPECT_EQ(e.At(Step::kConnect, "ECONNREFUSED"), 5u);
}

// The nearest-rank percentile of the exact values.
std::uint64_t Exact(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * double(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

TEST(LatencyHistogramTest, PercentilesWithinThreePercentOfExact) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 1.0);  // ~60 us median, ns
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max_ns(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.min_ns(), *std::min_element(values.begin(), values.end()));
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) {
    const double exact = double(Exact(values, q));
    EXPECT_NEAR(double(h.Percentile(q)), exact, exact * 0.03) << "q=" << q;
  }
  EXPECT_EQ(h.Percentile(1.0), h.max_ns());
}

TEST(LatencyHistogramTest, SmallValuesAreExactAndEmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.max_ns(), 0u);
  for (std::uint64_t v = 1; v <= 10; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(0.5), 5u);
  EXPECT_EQ(h.Percentile(0.9), 9u);
  EXPECT_DOUBLE_EQ(h.mean_ns(), 5.5);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingBoth) {
  LatencyHistogram a, b, both;
  for (std::uint64_t v = 1000; v < 200000; v += 997) {
    (v % 2 ? a : b).Record(v);
    both.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.max_ns(), both.max_ns());
  for (double q : {0.1, 0.5, 0.99})
    EXPECT_EQ(a.Percentile(q), both.Percentile(q));
}

// What N loops will do at the end of a run: each loop's part merged into one.
TEST(ChurnStatsTest, ClientMergeSumsCountsAndKeepsTheEarliestFailure) {
  ClientStats a;
  a.attempted = 10;
  a.completed = 8;
  a.seconds = 1.5;
  a.errors.Add(Step::kConnect, UV_ECONNREFUSED);
  a.latency.Record(1000);
  a.first_connect_failure_s = 0.7;
  ClientStats b;
  b.attempted = 5;
  b.completed = 5;
  b.seconds = 2.0;
  b.hit_time_limit = true;
  b.errors.Add(Step::kConnect, UV_ECONNREFUSED);
  b.latency.Record(3000);
  b.first_connect_failure_s = 0.2;
  b.client_reuseaddr = 1;
  a.Merge(b);
  EXPECT_EQ(a.attempted, 15u);
  EXPECT_EQ(a.completed, 13u);
  EXPECT_EQ(a.seconds, 2.0);  // the loops ran side by side
  EXPECT_TRUE(a.hit_time_limit);
  EXPECT_EQ(a.errors.At(Step::kConnect, "ECONNREFUSED"), 2u);
  EXPECT_EQ(a.latency.count(), 2u);
  EXPECT_EQ(a.latency.max_ns(), 3000u);
  EXPECT_EQ(a.first_connect_failure_s, 0.2);
  EXPECT_EQ(a.client_reuseaddr, 1);
}

// Two hosts of an MPI job used the same port numbers from their own source
// addresses: no reuse between them, every port counts.
TEST(ChurnStatsTest, OtherHostsPortsAreAppendedNotJoined) {
  ClientStats a;
  a.ports_seen.resize(1);
  a.ports_seen[0].set(40000);
  a.ports_seen[0].set(40001);
  a.client_ports_distinct = 2;
  a.tuple_reuses = 1;
  a.completed = 3;
  ClientStats b = a;
  b.tuple_reuses = 0;
  b.seconds = 2.0;
  a.MergeOtherHost(b);
  ASSERT_EQ(a.ports_seen.size(), 2u);
  EXPECT_EQ(a.ports_seen[1].count(), 2u);
  EXPECT_EQ(a.client_ports_distinct, 4u);
  EXPECT_EQ(a.tuple_reuses, 1u);
  EXPECT_EQ(a.addrs_used(), 2u);
  EXPECT_EQ(a.completed, 6u);
  EXPECT_EQ(a.seconds, 2.0);
}

TEST(ChurnStatsTest, ServerMergeSumsCountsAndKeepsTheFirstRebind) {
  ServerStats a;
  a.accepted = 7;
  a.accept_pauses = 1;
  a.rebind.attempted = true;
  a.rebind.bound = true;
  ServerStats b;
  b.accepted = 3;
  b.restarts = 2;
  b.accept_pauses = 4;
  b.errors.Add(Step::kAccept, UV_EMFILE);
  b.restart_downtime.Record(5000);
  b.drain_waited_for_accepts = true;
  a.Merge(b);
  EXPECT_EQ(a.accepted, 10u);
  EXPECT_EQ(a.restarts, 2u);
  EXPECT_EQ(a.accept_pauses, 5u);
  EXPECT_EQ(a.errors.Total(), 1u);
  EXPECT_EQ(a.restart_downtime.count(), 1u);
  EXPECT_TRUE(a.drain_waited_for_accepts);
  EXPECT_TRUE(a.rebind.bound);
}

TEST(ChurnStatsTest, ErrorsAndNotAcceptedComeFromBothParts) {
  ChurnStats st;
  st.client.connected = 100;
  st.client.errors.Add(Step::kRead, UV_ECONNRESET);
  st.server.accepted = 90;
  st.server.accept_queue_lost = 4;
  st.server.errors.Add(Step::kAccept, UV_EMFILE);
  EXPECT_EQ(st.errors().Total(), 2u);
  EXPECT_EQ(st.errors().At(Step::kAccept, "EMFILE"), 1u);
  EXPECT_EQ(st.not_accepted(), 6u);
  st.server.accepted = 200;  // floored at 0, never wraps
  EXPECT_EQ(st.not_accepted(), 0u);
}

}  // namespace
}  // namespace twbench
