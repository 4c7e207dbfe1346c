// The churn engine against the real kernel on loopback, each test inside a
// fresh network namespace where it can be made (no TIME_WAIT of earlier runs,
// no tcp_max_tw_buckets overflow from the host), so counts are exact.
#include "twbench/churn.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "proc_net_tcp.h"
#include "twbench/kernel_counters.h"
#include "twbench/netns.h"
#include "twbench/socket_census.h"

namespace twbench {
namespace {

using ::twbench::testing::CountFromProc;

// Runs `body` in a fresh network namespace; skips the test (with the reason)
// when the namespace cannot be made, since the exact counts asserted here
// only hold where no other run's TIME_WAIT shares the kernel tables.
void Isolated(const std::function<void()>& body) {
  std::optional<std::string> why = RunInFreshNetns(body);
  if (why) GTEST_SKIP() << "needs a network namespace: " << *why;
}

Scenario Small(Closer closer, bool reuseaddr, std::uint64_t n = 500) {
  Scenario s;
  s.closer = closer;
  s.reuseaddr = reuseaddr;
  s.concurrency = 8;
  s.connections = n;
  s.time_limit_s = 20;
  return s;
}

std::uint64_t TimeWait(Family family, std::optional<std::uint16_t> local,
                       std::optional<std::uint16_t> remote) {
  CensusQuery q;
  q.states = StateBit(TcpState::kTimeWait);
  q.ipv4 = family == Family::kIPv4;
  q.ipv6 = family == Family::kIPv6;
  q.local_port = local;
  q.remote_port = remote;
  SettledCounts settled = CountTcpSocketsSettled(q, 2.0);
  EXPECT_TRUE(settled.settled) << "sockets still closing after 2 s";
  const std::uint64_t census = settled.counts.time_wait();
  // The census checked against an independent reading of /proc/net/tcp{,6}.
  EXPECT_EQ(census, CountFromProc(q).time_wait());
  return census;
}

void ExpectAllCompleted(const ChurnStats& st, std::uint64_t n) {
  EXPECT_TRUE(st.fatal.empty()) << st.fatal;
  EXPECT_EQ(st.client.attempted, n);
  EXPECT_EQ(st.client.completed, n);
  EXPECT_EQ(st.server.accepted, n);
  EXPECT_EQ(st.not_accepted(), 0u);
  EXPECT_EQ(st.client.latency.count(), n);
  EXPECT_EQ(st.client.unfinished, 0u);
  EXPECT_FALSE(st.client.hit_time_limit);
  EXPECT_GT(st.client.seconds, 0);
}

TEST(ChurnTest, ListenerReuseaddrReadBackEqualsSettingBothWays) {
  for (bool reuseaddr : {false, true}) {
    for (bool reuseport : {false, true}) {
      Scenario s = Small(Closer::kClient, reuseaddr, 10);
      s.reuseport = reuseport;
      ChurnStats st = RunChurn(s);
      ASSERT_TRUE(st.fatal.empty()) << st.fatal;
      // Read from the live socket after uv_tcp_open: libuv must not have
      // changed it (uv_tcp_bind would have turned SO_REUSEADDR on).
      EXPECT_EQ(st.server.listener_reuseaddr, reuseaddr ? 1 : 0);
      EXPECT_EQ(st.server.listener_reuseport, reuseport ? 1 : 0);
    }
  }
}

// In a namespace of its own, TcpExt TW counts exactly the sockets that
// entered TIME_WAIT during the run. What the census finds afterwards can be a
// few less: on two CPUs loopback segments can arrive out of order and the RST
// answering one kills a TIME_WAIT socket (Tcp OutRsts rises by the same
// number; seen up to 6% of a run), so the census is held to the independent
// /proc reading exactly and to the kernel's count within 15%.
void ExpectTimeWaitNear(std::uint64_t census, std::uint64_t entered) {
  EXPECT_LE(census, entered);
  EXPECT_GE(census, entered - entered * 15 / 100);
}

TEST(ChurnTest, ServerCloseLeavesTimeWaitOnServerPort) {
  Isolated([] {
    const TcpExtCounters before = ReadTcpExt();
    ChurnStats st = RunChurn(Small(Closer::kServer, true));
    ExpectAllCompleted(st, 500);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    const std::uint64_t server = TimeWait(Family::kIPv4, st.server_port, {});
    EXPECT_EQ(TimeWait(Family::kIPv4, {}, st.server_port), 0u);
    // Every server end entered TIME_WAIT, no client end did.
    EXPECT_EQ(Delta(ReadTcpExt(), before).tw, 500u);
    // The client's port is free again at once (its end closed second), and
    // a SYN that reuses a 4-tuple takes over the server's TIME_WAIT socket
    // of it: one TIME_WAIT per distinct client port remains.
    ExpectTimeWaitNear(server, st.client.client_ports_distinct);
  });
}

TEST(ChurnTest, ClientCloseLeavesTimeWaitOnClientPorts) {
  Isolated([] {
    const TcpExtCounters before = ReadTcpExt();
    // With SO_REUSEADDR: the rebind at once may meet a server end in
    // LAST_ACK without it (see RebindAfterClientClose below).
    ChurnStats st = RunChurn(Small(Closer::kClient, true));
    ExpectAllCompleted(st, 500);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    EXPECT_EQ(st.client.client_ports_distinct, 500u);
    const std::uint64_t client = TimeWait(Family::kIPv4, {}, st.server_port);
    EXPECT_EQ(TimeWait(Family::kIPv4, st.server_port, {}), 0u);
    EXPECT_EQ(Delta(ReadTcpExt(), before).tw, 500u);
    ExpectTimeWaitNear(client, 500);
  });
}

TEST(ChurnTest, RstCloseLeavesNoTimeWait) {
  Isolated([] {
    const TcpExtCounters before = ReadTcpExt();
    ChurnStats st = RunChurn(Small(Closer::kRst, false));
    ExpectAllCompleted(st, 500);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    EXPECT_EQ(st.client.resets,
              500u);  // every connection ended by the server's RST
    EXPECT_EQ(Delta(ReadTcpExt(), before).tw, 0u);
    EXPECT_EQ(TimeWait(Family::kIPv4, st.server_port, {}), 0u);
    EXPECT_EQ(TimeWait(Family::kIPv4, {}, st.server_port), 0u);
    EXPECT_TRUE(st.server.rebind.bound);  // nothing holds the port
  });
}

TEST(ChurnTest, RebindAfterServerCloseFailsWithoutReuseaddr) {
  Isolated([] {
    ChurnStats st = RunChurn(Small(Closer::kServer, false, 100));
    ExpectAllCompleted(st, 100);
    ASSERT_TRUE(st.server.rebind.attempted);
    EXPECT_FALSE(st.server.rebind.bound);
    EXPECT_EQ(st.server.rebind.failed_step, Step::kBind);
    EXPECT_EQ(st.server.rebind.error, UV_EADDRINUSE);
    EXPECT_EQ(st.errors().At(Step::kBind, "EADDRINUSE"), 1u);
    EXPECT_EQ(st.errors().Total(), 1u) << st.errors().Summary();
    // What held the port: the server ends in TIME_WAIT.
    EXPECT_NE(st.server.rebind.blockers.find("TIME_WAIT="), std::string::npos)
        << st.server.rebind.blockers;
  });
}

TEST(ChurnTest, LiveCountersEndEqualToTheStats) {
  Isolated([] {
    LiveCounters live;
    ChurnStats st =
        RunChurn(Small(Closer::kServer, false, 300), nullptr, {}, &live);
    ExpectAllCompleted(st, 300);
    EXPECT_EQ(live.Sum().attempted, st.client.attempted);
    EXPECT_EQ(live.Sum().completed, st.client.completed);
    EXPECT_EQ(live.Sum().accepted, st.server.accepted);
    EXPECT_EQ(live.Sum().errors, 0u);
    // The one failure of this run is the rebind that TIME_WAIT blocks.
    EXPECT_EQ(live.Sum().bind_failures, 1u);
    EXPECT_EQ(live.Sum().bind_failures, st.errors().AtStep(Step::kBind));
  });
}

TEST(ChurnTest, RebindAfterServerCloseSucceedsWithReuseaddr) {
  Isolated([] {
    ChurnStats st = RunChurn(Small(Closer::kServer, true, 100));
    ExpectAllCompleted(st, 100);
    ExpectTimeWaitNear(TimeWait(Family::kIPv4, st.server_port, {}),
                       st.client.client_ports_distinct);
    ASSERT_TRUE(st.server.rebind.attempted);
    EXPECT_TRUE(st.server.rebind.bound) << uv_err_name(st.server.rebind.error);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
  });
}

// After a client-side close no TIME_WAIT holds the server's port: once the
// server ends' last ACKs are processed (the rebind waits for that, bounded),
// a rebind without SO_REUSEADDR is bound, every time.
TEST(ChurnTest, RebindAfterClientCloseIsBlockedByNoTimeWait) {
  Isolated([] {
    ChurnStats st = RunChurn(Small(Closer::kClient, false, 100));
    ExpectAllCompleted(st, 100);
    ASSERT_TRUE(st.server.rebind.attempted);
    EXPECT_TRUE(st.server.rebind.bound)
        << uv_err_name(st.server.rebind.error) << "("
        << st.server.rebind.blockers << ")";
    EXPECT_TRUE(st.server.rebind.wait_settled);
    EXPECT_LT(st.server.rebind.wait_ns, 1'000'000'000u + 50'000'000u);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
  });
}

// The flip the wait removes: without it 17 of 128 stored rows of closer=client
// failed with EADDRINUSE(LAST_ACK=n). 30 runs each way: client close always
// bound, server close always blocked by its TIME_WAIT.
TEST(ChurnTest, RebindWithoutReuseaddrIsTheSameEveryRun) {
  Isolated([] {
    std::uint64_t longest_wait_ns = 0;
    for (int run = 0; run < 30; ++run) {
      SCOPED_TRACE("run " + std::to_string(run));
      ChurnStats client = RunChurn(Small(Closer::kClient, false, 100));
      EXPECT_TRUE(client.server.rebind.bound)
          << ToString(client.server.rebind.failed_step) << " "
          << uv_err_name(client.server.rebind.error) << "("
          << client.server.rebind.blockers << ") after waiting "
          << client.server.rebind.wait_ns << " ns";
      ChurnStats server = RunChurn(Small(Closer::kServer, false, 100));
      EXPECT_FALSE(server.server.rebind.bound);
      EXPECT_EQ(server.server.rebind.error, UV_EADDRINUSE);
      EXPECT_NE(server.server.rebind.blockers.find("TIME_WAIT="),
                std::string::npos)
          << server.server.rebind.blockers;
      longest_wait_ns = std::max({longest_wait_ns, client.server.rebind.wait_ns,
                                  server.server.rebind.wait_ns});
    }
    std::cerr << "longest rebind wait: " << longest_wait_ns / 1000 << " us\n";
  });
}

TEST(ChurnTest, PayloadEchoCompletesEveryConnectionForEachCloser) {
  Isolated([] {
    for (Closer closer : {Closer::kClient, Closer::kServer, Closer::kRst}) {
      for (std::uint64_t payload : {1ull, 1024ull, 256ull * 1024}) {
        Scenario s = Small(closer, true, 300);
        s.payload = payload;
        s.concurrency = 16;
        ChurnStats st = RunChurn(s);
        SCOPED_TRACE(SettingsName(s));
        ExpectAllCompleted(st, 300);
        EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
      }
    }
  });
}

TEST(ChurnTest, Ipv6ServerCloseOnLoopback) {
  Isolated([] {
    Scenario s = Small(Closer::kServer, true, 200);
    s.family = Family::kIPv6;
    ChurnStats st = RunChurn(s);
    ExpectAllCompleted(st, 200);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    ExpectTimeWaitNear(TimeWait(Family::kIPv6, st.server_port, {}),
                       st.client.client_ports_distinct);
  });
}

TEST(ChurnTest, HighConcurrencyCompletesEveryConnection) {
  Isolated([] {
    Scenario s = Small(Closer::kServer, true, 3000);
    s.concurrency = 1000;
    ChurnStats st = RunChurn(s);
    ExpectAllCompleted(st, 3000);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
  });
}

TEST(ChurnTest, ListenerThatNeverAcceptsDoesNotHangTheRun) {
  Scenario s = Small(Closer::kServer, true, 40);
  s.server_accepts = false;
  s.concurrency = 4;
  s.connection_timeout_s = 0.2;
  const auto t0 = std::chrono::steady_clock::now();
  ChurnStats st = RunChurn(s);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_TRUE(st.fatal.empty()) << st.fatal;
  EXPECT_EQ(st.client.completed, 0u);
  EXPECT_EQ(st.server.accepted, 0u);
  EXPECT_EQ(st.client.attempted, 40u);
  // The kernel completed every handshake (the backlog holds them all); the
  // server accepted none.
  EXPECT_EQ(st.client.connected, 40u);
  EXPECT_EQ(st.not_accepted(), 40u);
  // Each connection waits for the server's FIN until its deadline.
  EXPECT_EQ(st.errors().ByName("ETIMEDOUT"), 40u) << st.errors().Summary();
  // 10 rounds of 4 connections, 0.2 s each, plus the 10 ms sweep.
  EXPECT_LT(took, 5.0);
}

TEST(ChurnTest, TimeLimitEndsTheRunAndCountsWhatWasInFlight) {
  Scenario s = Small(Closer::kServer, true, 100'000'000);
  s.server_accepts = false;  // nothing ever completes
  s.connection_timeout_s = 100;
  s.time_limit_s = 0.3;
  ChurnStats st = RunChurn(s);
  EXPECT_TRUE(st.client.hit_time_limit);
  EXPECT_EQ(st.client.unfinished, 8u);  // every slot was waiting
  EXPECT_LT(st.client.seconds, 2.0);
}

TEST(ChurnTest, StopFlagEndsTheRunEarly) {
  std::atomic<bool> stop{false};
  Scenario s = Small(Closer::kRst, true, 100'000'000);
  s.time_limit_s = 30;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.store(true);
  });
  ChurnStats st = RunChurn(s, &stop);
  stopper.join();
  EXPECT_TRUE(st.client.hit_time_limit);
  EXPECT_GT(st.client.completed, 0u);
  EXPECT_LT(st.client.seconds, 5.0);
}

TEST(ChurnTest, PortInUseIsAFatalSetupErrorNamedByErrno) {
  Isolated([] {
    Scenario s = Small(Closer::kServer, false, 10);
    ChurnStats first = RunChurn(s);  // leaves TIME_WAIT on its port
    ASSERT_TRUE(first.fatal.empty());
    s.port = first.server_port;
    ChurnStats again = RunChurn(s);
    EXPECT_NE(again.fatal.find("EADDRINUSE"), std::string::npos) << again.fatal;
    EXPECT_EQ(again.errors().At(Step::kBind, "EADDRINUSE"), 1u);
    EXPECT_EQ(again.client.attempted, 0u);
  });
}

TEST(ChurnTest, InvalidScenarioIsRefusedWithTheSettingNamed) {
  Scenario s;
  s.concurrency = 0;
  ChurnStats st = RunChurn(s);
  EXPECT_NE(st.fatal.find("concurrency"), std::string::npos) << st.fatal;
  EXPECT_EQ(st.client.attempted, 0u);
}

}  // namespace
}  // namespace twbench
