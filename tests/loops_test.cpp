// The engine with several loops against the real kernel, each run in a fresh
// network namespace: every connection counted whatever the loops, the accept
// mode and the closer; TIME_WAIT on the closer's side and equal to the
// namespace's own total (sockstat); reuseport spreading accepts; source
// addresses in turn; tuple reuses counted across loops.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>

#include "netns_skip.h"
#include "tw_resets.h"
#include "twbench/churn.h"
#include "twbench/kernel_counters.h"
#include "twbench/socket_census.h"
#include "twbench/sysctl.h"
#include "twbench/time_wait_ledger.h"

namespace twbench {
namespace {

using test::InFreshNetns;

Scenario Loops(int loops, AcceptMode accept, Closer closer,
               std::uint64_t connections = 2000) {
  Scenario s;
  s.reuseaddr = true;
  s.loops = loops;
  s.accept = accept;
  s.closer = closer;
  s.concurrency = 16;
  s.connections = connections;
  s.time_limit_s = 20;
  return s;
}

std::string Name(const Scenario& s) { return SettingsName(s); }

struct Held {
  std::uint64_t server = 0;  // TIME_WAIT with the server port as local port
  std::uint64_t client = 0;  // ... as remote port
  std::uint64_t sockstat = 0;
};

Held CountTimeWait(std::uint16_t port) {
  Held h;
  for (bool local : {true, false}) {
    CensusQuery q;
    q.states = StateBit(TcpState::kTimeWait);
    (local ? q.local_port : q.remote_port) = port;
    const SettledCounts c = CountTcpSocketsSettled(q, 10.0);
    EXPECT_TRUE(c.settled) << "still closing after 10 s";
    (local ? h.server : h.client) = c.counts.time_wait();
  }
  h.sockstat = ReadSockstat().tw;
  return h;
}

TEST(LoopsTest, EveryConnectionCountedInEveryAcceptModeAndCloser) {
  SKIP_WITHOUT_NETNS();
  for (int loops : {1, 2}) {
    for (AcceptMode accept : {AcceptMode::kReuseport, AcceptMode::kShared}) {
      if (loops == 1 && accept == AcceptMode::kShared) continue;  // the same
      for (Closer closer : {Closer::kServer, Closer::kClient, Closer::kRst}) {
        const Scenario s = Loops(loops, accept, closer);
        SCOPED_TRACE(Name(s));
        InFreshNetns([&] {
          const test::RstMark mark;
          const ChurnStats st = RunChurn(s);
          ASSERT_TRUE(st.fatal.empty()) << st.fatal;
          EXPECT_EQ(st.client.attempted, 2000u);
          EXPECT_EQ(st.client.completed, 2000u) << st.errors().Summary();
          EXPECT_EQ(st.server.accepted, 2000u);
          EXPECT_EQ(st.not_accepted(), 0u);
          ASSERT_EQ(st.accepted_per_loop.size(), static_cast<size_t>(loops));
          EXPECT_EQ(std::accumulate(st.accepted_per_loop.begin(),
                                    st.accepted_per_loop.end(), 0ull),
                    st.server.accepted);
          if (accept == AcceptMode::kReuseport) {
            // The kernel hashes each 4-tuple to a listener: with 2000
            // connections every listener gets some.
            for (std::uint64_t n : st.accepted_per_loop) EXPECT_GT(n, 0u);
          }
          // A listener per loop needs SO_REUSEPORT, asked for or not.
          EXPECT_EQ(st.server.listener_reuseport,
                    loops > 1 && accept == AcceptMode::kReuseport ? 1 : 0);
          EXPECT_TRUE(st.server.rebind.bound);
          EXPECT_GT(st.cpu_user_s() + st.cpu_sys_s(), 0.0);
          const Held h = CountTimeWait(st.server_port);
          // Census = the namespace's own total: nothing else ran here.
          EXPECT_EQ(h.server + h.client, h.sockstat);
          // On the closer's side, as with one loop: one per connection but
          // for those an RST ended (tw_resets.h).
          const std::uint64_t ended =
              test::TimeWaitEndedSince(mark, st.client.tuple_reuses);
          // SCOPED_TRACE does not reach this thread: the run's name is here.
          const std::string terms =
              Name(s) + ": " + test::LedgerTermsSince(mark, st);
          switch (closer) {
            case Closer::kServer:
              EXPECT_LE(h.server, 2000u);
              EXPECT_GE(h.server + ended, 2000u)
                  << h.server << " held, " << terms;
              EXPECT_EQ(h.client, 0u);
              break;
            case Closer::kClient:
              EXPECT_LE(h.client, 2000u);
              EXPECT_GE(h.client + ended, 2000u)
                  << h.client << " held, " << terms;
              EXPECT_EQ(h.server, 0u);
              break;
            case Closer::kRst:
              EXPECT_EQ(h.server + h.client, 0u);
              break;
          }
        });
      }
    }
  }
}

TEST(LoopsTest, ConcurrencyBelowLoopsIsRefused) {
  Scenario s = Loops(4, AcceptMode::kReuseport, Closer::kServer, 10);
  s.concurrency = 3;
  const ChurnStats st = RunChurn(s);
  EXPECT_NE(st.fatal.find("concurrency 3 is below loops 4"), std::string::npos)
      << st.fatal;
}

// Four source addresses, two loops: every address used, each connection's
// TIME_WAIT on the client side, and the books balance.
TEST(LoopsTest, ClientAddrsBindEachSourceInTurn) {
  SKIP_WITHOUT_NETNS();
  Scenario s = Loops(2, AcceptMode::kReuseport, Closer::kClient);
  s.client_addrs = 4;
  InFreshNetns([&] {
    const TcpExtCounters before = ReadTcpExt();
    const TcpCounters tcp_before = ReadTcp();
    const ChurnStats st = RunChurn(s);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.completed, 2000u) << st.errors().Summary();
    EXPECT_EQ(st.client.addrs_used(), 4u);
    ASSERT_EQ(st.client.ports_seen.size(), 4u);
    for (const auto& ports : st.client.ports_seen) {
      // In turn: each address has about a quarter.
      EXPECT_GT(ports.count(), 400u);
    }
    const Held h = CountTimeWait(st.server_port);
    EXPECT_EQ(h.client, h.sockstat);
    const TcpExtCounters ext = Delta(ReadTcpExt(), before);
    TimeWaitLedgerInputs in;
    in.closer = s.closer;
    in.entered = ext.tw;
    in.held = h.client;
    in.recycled = ext.tw_recycled;
    in.killed = ext.tw_killed;
    in.tuple_reuses = st.client.tuple_reuses;
    in.out_rsts = Delta(ReadTcp(), tcp_before).out_rsts;
    EXPECT_EQ(ext.tw, 2000u);
    EXPECT_EQ(BalanceTimeWait(in).unexplained, 0);
  });
}

// 200 ports for two client loops and 2000 server-close connections: every
// port comes round about ten times, often in the other loop. The ports seen
// are joined across loops, so a reuse is counted wherever it happens.
TEST(LoopsTest, TupleReusesAreCountedAcrossLoops) {
  SKIP_WITHOUT_NETNS();
  Scenario s = Loops(2, AcceptMode::kReuseport, Closer::kServer);
  s.knobs.port_range = {40000, 40199};
  InFreshNetns([&] {
    ASSERT_EQ(ApplyTcpKnobs(s.knobs), "");
    const ChurnStats st = RunChurn(s);
    ASSERT_TRUE(st.fatal.empty()) << st.fatal;
    EXPECT_EQ(st.client.completed + st.client.errors.Total(), 2000u);
    EXPECT_LE(st.client.client_ports_distinct, 200u);
    EXPECT_EQ(st.client.tuple_reuses,
              st.client.connected - st.client.client_ports_distinct);
    EXPECT_GE(st.client.tuple_reuses, 1700u);
  });
}

}  // namespace
}  // namespace twbench
