// What the per-namespace kernel knobs do to churn, each run in a fresh
// network namespace with the knobs applied there (the host is untouched).
#include <gtest/gtest.h>
#include <uv.h>

#include <functional>

#include "netns_skip.h"
#include "tw_resets.h"
#include "twbench/churn.h"
#include "twbench/kernel_counters.h"
#include "twbench/netns.h"
#include "twbench/socket_census.h"
#include "twbench/sysctl.h"

namespace twbench {
namespace {

struct KnobRun {
  ChurnStats stats;
  TcpExtCounters tcpext;
  std::uint64_t time_wait = 0;  // census, both ends, settled
  std::uint64_t tw_resets = 0;  // TIME_WAIT ended early (tw_resets.h)
};

// Applies the knobs in a fresh namespace, runs the scenario there and counts
// what it left. Skips the test when no namespace can be made.
KnobRun RunWithKnobs(const Scenario& s,
                     const std::function<void()>& more = {}) {
  KnobRun r;
  std::optional<std::string> why = RunInFreshNetns([&] {
    ASSERT_EQ(ApplyTcpKnobs(s.knobs), "");
    const TcpExtCounters before = ReadTcpExt();
    const test::RstMark mark;
    r.stats = RunChurn(s);
    CensusQuery q;
    q.states = StateBit(TcpState::kTimeWait);
    r.time_wait = CountTcpSocketsSettled(q, 2.0).counts.time_wait();
    r.tcpext = Delta(ReadTcpExt(), before);
    r.tw_resets = test::TimeWaitEndedSince(mark, r.stats.client.tuple_reuses);
    if (more) more();
  });
  if (why) ADD_FAILURE() << "needs a network namespace: " << *why;
  return r;
}

Scenario ClientClose(std::uint64_t n) {
  Scenario s;
  s.closer = Closer::kClient;
  s.reuseaddr = true;
  s.concurrency = 8;
  s.connections = n;
  s.time_limit_s = 20;
  return s;
}

class KnobsChurnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanCreateNetns()) GTEST_SKIP() << WhyNoNetns();
  }
};

TEST_F(KnobsChurnTest, NoTimeWaitBucketsLeaveNoTimeWaitAndCountOverflow) {
  Scenario s = ClientClose(300);
  s.closer = Closer::kServer;
  s.knobs.max_tw_buckets = 0;
  KnobRun r = RunWithKnobs(s);
  EXPECT_EQ(r.stats.client.completed, 300u);
  EXPECT_EQ(r.time_wait, 0u);
  EXPECT_EQ(r.tcpext.tw, 0u);
  // Every connection that would have entered TIME_WAIT is counted instead.
  EXPECT_EQ(r.tcpext.tw_overflow, 300u);
}

TEST_F(KnobsChurnTest, SmallPortRangeWithoutReuseRunsOutOfPortsAndGoesOn) {
  Scenario s = ClientClose(400);
  s.knobs.tw_reuse = 0;
  s.knobs.port_range = std::make_pair(40000, 40099);  // 100 ports
  KnobRun r = RunWithKnobs(s);
  const ChurnStats& st = r.stats;
  EXPECT_TRUE(st.fatal.empty()) << st.fatal;
  EXPECT_EQ(st.client.attempted, 400u);  // the run went on to its budget
  // Each port holds its TIME_WAIT to the server: about 100 connections (a
  // few more when a reordered segment's RST frees a TIME_WAIT early).
  EXPECT_LE(st.client.completed, 110u);
  EXPECT_GE(st.client.completed, 90u);
  EXPECT_EQ(st.errors().At(Step::kConnect, "EADDRNOTAVAIL"),
            400 - st.client.completed)
      << st.errors().Summary();
  EXPECT_EQ(r.tcpext.tw_recycled, 0u);
}

TEST_F(KnobsChurnTest, LoopbackReuseRecyclesTimeWaitOnceOldEnough) {
  SKIP_WITHOUT_TW_REUSE_DELAY();
  // A connect() that finds no port fails at once: 400 attempts once gave
  // 99 completed and none recycled (CI, beside a suite run). 2000 keep the
  // client trying long past the 1 ms.
  Scenario s = ClientClose(2000);
  s.knobs.tw_reuse = 2;  // loopback only: this is loopback
  s.knobs.tw_reuse_delay_ms = 1;
  s.knobs.port_range = std::make_pair(40000, 40099);
  KnobRun r = RunWithKnobs(s);
  EXPECT_GT(r.tcpext.tw_recycled, 0u) << r.stats.errors().Summary();
  // More than the range without reuse.
  EXPECT_GT(r.stats.client.completed, 100u) << r.stats.errors().Summary();
}

// The same run twice in one namespace inherits the first run's TIME_WAIT on
// the port; in a fresh namespace each, each run holds only its own.
TEST_F(KnobsChurnTest, IsolationStopsInheritanceOfTimeWait) {
  Scenario s = ClientClose(200);
  s.closer = Closer::kServer;
  s.port = 47000;
  for (int run = 0; run < 2; ++run) {
    KnobRun r = RunWithKnobs(s);
    EXPECT_EQ(r.tcpext.tw, 200u);  // exact: each run's own namespace
    // Never the other run's; one per connection but for those an RST ended.
    EXPECT_LE(r.time_wait, 200u);
    EXPECT_GE(r.time_wait + r.tw_resets, 200u) << r.time_wait << " held";
  }

  std::uint64_t shared[2] = {0, 0};
  RunWithKnobs(s, [&] {
    CensusQuery q;
    q.states = StateBit(TcpState::kTimeWait);
    shared[0] = CountTcpSockets(q).time_wait();
    ChurnStats again = RunChurn(s);  // same namespace, same port
    ASSERT_TRUE(again.fatal.empty()) << again.fatal;
    shared[1] = CountTcpSocketsSettled(q, 2.0).counts.time_wait();
  });
  EXPECT_GT(shared[1], shared[0] + 100);  // the first run's are still there
}

TEST_F(KnobsChurnTest, RefusedKnobIsAClearError) {
  std::optional<std::string> why = RunInFreshNetns([] {
    TcpKnobs k;
    k.port_range = std::make_pair(60000, 50000);
    EXPECT_NE(ApplyTcpKnobs(k).find("ip_local_port_range"), std::string::npos);
  });
  EXPECT_FALSE(why.has_value());
}

}  // namespace
}  // namespace twbench
