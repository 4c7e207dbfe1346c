// The bare-epoll baseline churn against the real kernel, in a fresh network
// namespace: it completes its budget without errors with every closer, loop
// count and accept mode, leaves TIME_WAIT where the closer puts it, spreads
// accepts over reuseport listeners, binds its source addresses in turn, and
// stops at its time limit against a listener that never accepts.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <numeric>
#include <thread>
#include <tuple>

#include "fd_room.h"
#include "netns_skip.h"
#include "tw_resets.h"
#include "twbench/baseline_churn.h"
#include "twbench/socket_census.h"

namespace twbench {
namespace {

Scenario Small(std::uint64_t n) {
  Scenario b;
  b.closer = Closer::kServer;
  b.concurrency = 16;
  b.connections = n;
  b.time_limit_s = 20;
  b.connection_timeout_s = 5;
  return b;
}

TEST(BaselineChurnTest, CompletesBudgetWithoutErrors) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    const test::RstMark mark;
    const ChurnStats st = RunBaselineChurn(Small(2000));
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.attempted, 2000u);
    EXPECT_EQ(st.client.completed, 2000u);
    EXPECT_EQ(st.server.accepted, 2000u);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    EXPECT_EQ(st.client.unfinished, 0u);
    EXPECT_EQ(st.client.latency.count(), 2000u);
    EXPECT_FALSE(st.client.hit_time_limit);
    EXPECT_GT(st.client.seconds, 0);
    EXPECT_NE(st.server_port, 0);
    // Server-side close: the TIME_WAIT is on the server's port, none on the
    // client's, as with the engine: one per connection, but for those an
    // RST ended (tw_resets.h).
    CensusQuery q;
    q.states = StateBit(TcpState::kTimeWait);
    q.ipv6 = false;
    q.local_port = st.server_port;
    const std::uint64_t server_tw =
        CountTcpSocketsSettled(q, 2.0).counts.time_wait();
    EXPECT_LE(server_tw, 2000u);
    EXPECT_GE(
        server_tw + test::TimeWaitEndedSince(mark, st.client.tuple_reuses),
        2000u)
        << server_tw << " held";
    q.local_port.reset();
    q.remote_port = st.server_port;
    EXPECT_EQ(CountTcpSocketsSettled(q, 2.0).counts.time_wait(), 0u);
  });
}

// TIME_WAIT sockets on the server's port (local) or towards it (remote),
// once the closes have settled.
std::uint64_t TimeWait(std::uint16_t server_port, bool server_side) {
  CensusQuery q;
  q.states = StateBit(TcpState::kTimeWait);
  q.ipv6 = false;
  if (server_side) {
    q.local_port = server_port;
  } else {
    q.remote_port = server_port;
  }
  return CountTcpSocketsSettled(q, 2.0).counts.time_wait();
}

// loops x accept x closer: the budget completes, every connection is
// accepted once, by the loops accepted_per_loop names.
class BaselineLoopsTest
    : public ::testing::TestWithParam<std::tuple<int, AcceptMode, Closer>> {};

TEST_P(BaselineLoopsTest, CompletesBudgetWithEveryCloser) {
  SKIP_WITHOUT_NETNS();
  const auto [loops, accept, closer] = GetParam();
  test::InFreshNetns([loops, accept, closer] {
    Scenario b = Small(2000);
    b.loops = loops;
    b.accept = accept;
    b.closer = closer;
    const test::RstMark mark;
    const ChurnStats st = RunBaselineChurn(b);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.attempted, 2000u);
    EXPECT_EQ(st.client.completed, 2000u);
    EXPECT_EQ(st.client.connected, 2000u);
    EXPECT_EQ(st.server.accepted, 2000u);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    EXPECT_EQ(st.client.unfinished, 0u);
    EXPECT_EQ(st.server.server_forced_closes, 0u);
    EXPECT_EQ(st.client.resets, closer == Closer::kRst ? 2000u : 0u);
    ASSERT_EQ(st.accepted_per_loop.size(), static_cast<std::size_t>(loops));
    EXPECT_EQ(std::accumulate(st.accepted_per_loop.begin(),
                              st.accepted_per_loop.end(), std::uint64_t{0}),
              st.server.accepted);
    if (accept == AcceptMode::kReuseport) {
      // The kernel hashes 2000 4-tuples over the listeners: each gets some.
      for (std::uint64_t n : st.accepted_per_loop) EXPECT_GT(n, 0u);
    }
    EXPECT_GT(st.client.cpu_user_ns + st.client.cpu_sys_ns, 0u);
    EXPECT_GT(st.server.cpu_user_ns + st.server.cpu_sys_ns, 0u);
    EXPECT_EQ(st.client.addrs_used(), 1u);
    // The closer holds the TIME_WAIT (one per connection, but for those an
    // RST ended: tw_resets.h); RST close leaves none.
    const std::uint64_t server_tw = TimeWait(st.server_port, true);
    const std::uint64_t client_tw = TimeWait(st.server_port, false);
    if (closer != Closer::kServer) {
      EXPECT_EQ(server_tw, 0u);
    }
    if (closer != Closer::kClient) {
      EXPECT_EQ(client_tw, 0u);
    }
    if (closer != Closer::kRst) {
      EXPECT_GE(server_tw + client_tw +
                    test::TimeWaitEndedSince(mark, st.client.tuple_reuses),
                2000u)
          << server_tw + client_tw << " held";
      EXPECT_LE(server_tw + client_tw, 2000u);
    }
  });
}

std::string LoopsName(
    const ::testing::TestParamInfo<std::tuple<int, AcceptMode, Closer>>& p) {
  return "loops" + std::to_string(std::get<0>(p.param)) + "_" +
         std::string(ToString(std::get<1>(p.param))) + "_" +
         std::string(ToString(std::get<2>(p.param)));
}

INSTANTIATE_TEST_SUITE_P(
    LoopsAcceptCloser, BaselineLoopsTest,
    ::testing::Combine(
        ::testing::Values(1, 2),
        ::testing::Values(AcceptMode::kReuseport, AcceptMode::kShared),
        ::testing::Values(Closer::kServer, Closer::kClient, Closer::kRst)),
    LoopsName);

// client_addrs=4: every source address carries connections, each noted in
// its own port set, as the engine's (client_addrs_used).
TEST(BaselineChurnTest, ClientAddrsBindsEachAddressInTurn) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    Scenario b = Small(2000);
    b.loops = 2;
    b.closer = Closer::kClient;
    b.client_addrs = 4;
    b.pin = Pin::kSpread;
    const ChurnStats st = RunBaselineChurn(b);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.completed, 2000u);
    EXPECT_EQ(st.server.accepted, 2000u);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
    ASSERT_EQ(st.client.ports_seen.size(), 4u);
    EXPECT_EQ(st.client.addrs_used(), 4u);
    for (const auto& seen : st.client.ports_seen) EXPECT_GT(seen.count(), 0u);
    EXPECT_EQ(st.client.client_ports_distinct + st.client.tuple_reuses, 2000u);
  });
}

TEST(BaselineChurnTest, Ipv6CompletesToo) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    Scenario b = Small(300);
    b.family = Family::kIPv6;
    const ChurnStats st = RunBaselineChurn(b);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.completed, 300u);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
  });
}

// A listener that never accepts: connects complete into the accept queue
// (then the queue is full and SYNs are dropped); no FIN ever comes. Each
// connection hits its deadline, the run its time limit, and it returns.
TEST(BaselineChurnTest, StopsAtTimeLimitWhenServerNeverAccepts) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    Scenario b = Small(1000000);
    b.concurrency = 4;
    b.backlog = 2;
    b.server_accepts = false;
    b.connection_timeout_s = 0.2;
    b.time_limit_s = 0.7;
    const auto t0 = std::chrono::steady_clock::now();
    const ChurnStats st = RunBaselineChurn(b);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.completed, 0u);
    EXPECT_EQ(st.server.accepted, 0u);
    EXPECT_TRUE(st.client.hit_time_limit);
    EXPECT_GE(st.client.seconds, 0.7);
    EXPECT_LT(wall, 3.0);  // bounded: the limit plus one sweep, not the budget
    // Deadlines struck in both places: the connects the queue took waited
    // for a FIN (read), the later ones for a handshake (connect).
    EXPECT_GT(st.errors().ByName("ETIMEDOUT"), 0u) << st.errors().Summary();
    EXPECT_EQ(st.errors().ByName("ETIMEDOUT"), st.errors().Total())
        << st.errors().Summary();
    EXPECT_GT(st.errors().At(Step::kRead, "ETIMEDOUT"), 0u)
        << st.errors().Summary();
    EXPECT_GT(st.errors().At(Step::kConnect, "ETIMEDOUT"), 0u)
        << st.errors().Summary();
    EXPECT_EQ(
        st.client.attempted,
        st.errors().Total() + st.client.unfinished);  // every one accounted for
  });
}

TEST(BaselineChurnTest, StopFlagEndsTheRun) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    Scenario b = Small(100000000);
    b.time_limit_s = 30;
    std::atomic<bool> stop{false};
    std::thread stopper([&stop] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      stop.store(true);
    });
    const ChurnStats st = RunBaselineChurn(b, &stop);
    stopper.join();
    EXPECT_TRUE(st.client.hit_time_limit);
    EXPECT_LT(st.client.seconds, 5.0);
    EXPECT_GT(st.client.completed, 0u);
    EXPECT_EQ(st.errors().Total(), 0u) << st.errors().Summary();
  });
}

// Out of fds, accept(2) fails with EMFILE while the listener stays readable:
// a server that retries at once spins (12.9 million EMFILE in 5 s with
// `ulimit -n 64`). It backs off 1 ms per failure instead, counts each pause,
// and the run still ends at its time limit.
TEST(BaselineChurnTest, AcceptEmfileBacksOffInsteadOfSpinning) {
  SKIP_WITHOUT_NETNS();
  test::InFreshNetns([] {
    Scenario b = Small(1000000);
    b.concurrency = 32;
    b.time_limit_s = 2;
    b.connection_timeout_s = 0.5;
    ChurnStats st;
    const auto t0 = std::chrono::steady_clock::now();
    {
      // The listener, two epoll fds and the stop eventfd leave ~16 for
      // sockets: the client's connects take them all, the server has none.
      test::SoftFdLimit limit(test::LimitLeavingRoom(20));
      ASSERT_TRUE(limit.ok());
      st = RunBaselineChurn(b);
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    const std::uint64_t accept_emfile = st.errors().At(Step::kAccept, "EMFILE");
    std::cerr << "accept EMFILE " << accept_emfile << ", pauses "
              << st.server.accept_pauses << ", completed "
              << st.client.completed << "\n";
    EXPECT_GT(accept_emfile, 0u) << st.errors().Summary();
    EXPECT_LT(accept_emfile, 10'000u);  // ~1 per ms at most, not a spin
    EXPECT_GE(st.server.accept_pauses, accept_emfile);
    EXPECT_TRUE(st.client.hit_time_limit);
    EXPECT_LT(wall, 5.0);
  });
}

TEST(BaselineChurnTest, BadSettingsAreFatal) {
  Scenario b;
  b.concurrency = 0;
  EXPECT_NE(RunBaselineChurn(b).fatal.find("concurrency"), std::string::npos);
}

}  // namespace
}  // namespace twbench
