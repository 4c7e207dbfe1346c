// The TIME_WAIT duration probe against the real kernel, with short bounds:
// the cell TIME_WAIT does not block binds at once, the blocked cells keep
// failing with EADDRINUSE until the bound and stop in time. The 60-second
// cells (waiting the TIME_WAIT out) stay out of the suite.
#include "twbench/timewait_probe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "twbench/netns.h"

namespace twbench {
namespace {

// Runs `body` in a fresh network namespace, so no other TIME_WAIT or listener
// shares the port tables; skips with the reason without the privilege.
void Isolated(const std::function<void()>& body) {
  std::optional<std::string> why = RunInFreshNetns(body);
  if (why) GTEST_SKIP() << "needs a network namespace: " << *why;
}

ProbeSettings Bounded(double bound_s, Family family = Family::kIPv4) {
  ProbeSettings s;
  s.family = family;
  s.bound_s = bound_s;
  return s;
}

TEST(TimewaitProbe, CellNamesAndParsing) {
  EXPECT_EQ(CellName({true, true, false}), "1/1/closed");
  EXPECT_EQ(CellName({false, true, true}), "0/1/open");
  ASSERT_EQ(AllProbeCells().size(), 8u);
  std::string why;
  auto two = ParseProbeCells("1/1/closed,0/0/open", &why);
  ASSERT_TRUE(two) << why;
  ASSERT_EQ(two->size(), 2u);
  // Table order, whatever the order given.
  EXPECT_EQ(CellName((*two)[0]), "0/0/open");
  EXPECT_EQ(CellName((*two)[1]), "1/1/closed");
  auto closed = ParseProbeCells("*/*/closed,1/1/closed", &why);
  ASSERT_TRUE(closed) << why;
  EXPECT_EQ(closed->size(), 4u);
  EXPECT_EQ(ParseProbeCells("all", &why)->size(), 8u);
  for (const char* bad : {"", "1/1", "2/0/open", "1/1/shut", "1/1/open/x",
                          "1/1/open,", "0/0/open,,1/1/closed"}) {
    why.clear();
    EXPECT_FALSE(ParseProbeCells(bad, &why)) << bad;
    EXPECT_NE(why.find("OLD/NEW/LISTENER"), std::string::npos) << bad;
  }
}

// Both sockets with SO_REUSEADDR and the listener gone: the TIME_WAIT does
// not block the bind, which works at the first tries while it still exists.
TEST(TimewaitProbe, ReuseOnBothSidesBindsAtOnce) {
  Isolated([] {
    ProbeOutcome o = RunProbeCell({true, true, false}, Bounded(2));
    EXPECT_EQ(o.result, ProbeResult::kBound) << o.error;
    EXPECT_GE(o.tries, 1u);
    EXPECT_LE(o.tries, 3u);
    EXPECT_GE(o.seconds, 0);
    EXPECT_LT(o.seconds, 0.5);
    EXPECT_GE(o.time_wait_seen_s, 0);
    EXPECT_LE(o.time_wait_seen_s, o.seconds);
    EXPECT_EQ(o.time_wait_left, 1);  // bound beside the live TIME_WAIT
    EXPECT_NE(o.port, 0);
    EXPECT_EQ(o.error, "");
  });
}

// The old listener kept open holds the port whatever the reuse settings (a
// LISTEN socket always conflicts): still failing at the bound, one try per
// 10 ms, every one bind:EADDRINUSE.
TEST(TimewaitProbe, OpenListenerStillFailingAtBound) {
  Isolated([] {
    const auto start = std::chrono::steady_clock::now();
    ProbeOutcome o = RunProbeCell({true, true, true}, Bounded(0.3));
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    EXPECT_EQ(o.result, ProbeResult::kStillFailing) << o.error;
    EXPECT_EQ(o.last_step, "bind");
    EXPECT_EQ(o.last_errno, "EADDRINUSE");
    // ~30 tries in 0.3 s; fewer on a loaded machine (sleeps overshoot),
    // never more than one per 10 ms.
    EXPECT_GE(o.tries, 10u);
    EXPECT_LE(o.tries, 31u);
    EXPECT_GE(o.seconds, 0.25);
    EXPECT_LE(o.seconds, 0.3 + 0.05);
    EXPECT_LT(took, 2.0);            // it stopped at the bound
    EXPECT_EQ(o.time_wait_left, 1);  // the TIME_WAIT outlives 0.3 s
  });
}

// No SO_REUSEADDR on either side, listener closed: the TIME_WAIT alone holds
// the port.
TEST(TimewaitProbe, TimeWaitBlocksWithoutReuse) {
  Isolated([] {
    ProbeOutcome o = RunProbeCell({false, false, false}, Bounded(0.2));
    EXPECT_EQ(o.result, ProbeResult::kStillFailing) << o.error;
    EXPECT_EQ(o.last_step, "bind");
    EXPECT_EQ(o.last_errno, "EADDRINUSE");
    EXPECT_EQ(o.time_wait_left, 1);
  });
}

// The kernel wants SO_REUSEADDR on both the TIME_WAIT (inherited from the old
// listener) and the new socket: either one alone is not enough.
TEST(TimewaitProbe, ReuseOnOneSideOnlyStillBlocked) {
  Isolated([] {
    for (ProbeCell cell :
         {ProbeCell{false, true, false}, ProbeCell{true, false, false}}) {
      ProbeOutcome o = RunProbeCell(cell, Bounded(0.2));
      EXPECT_EQ(o.result, ProbeResult::kStillFailing) << CellName(cell);
      EXPECT_EQ(o.last_errno, "EADDRINUSE") << CellName(cell);
      EXPECT_EQ(o.time_wait_left, 1) << CellName(cell);
    }
  });
}

TEST(TimewaitProbe, Ipv6LikeIpv4) {
  Isolated([] {
    ProbeOutcome fast =
        RunProbeCell({true, true, false}, Bounded(2, Family::kIPv6));
    if (fast.result == ProbeResult::kError &&
        fast.error.find("EAFNOSUPPORT") != std::string::npos) {
      GTEST_SKIP() << "no IPv6 in this kernel";
    }
    EXPECT_EQ(fast.result, ProbeResult::kBound) << fast.error;
    EXPECT_EQ(fast.time_wait_left, 1);
    ProbeOutcome blocked =
        RunProbeCell({false, false, false}, Bounded(0.2, Family::kIPv6));
    EXPECT_EQ(blocked.result, ProbeResult::kStillFailing) << blocked.error;
    EXPECT_EQ(blocked.last_errno, "EADDRINUSE");
  });
}

// A stop request ends a blocked cell within a poll or two, as `interrupted`,
// with what it measured so far.
TEST(TimewaitProbe, StopEndsTheCellAsInterrupted) {
  Isolated([] {
    std::atomic<bool> stop{false};
    ProbeSettings s = Bounded(30);
    s.stop = &stop;
    std::thread stopper([&stop] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      stop.store(true);
    });
    const auto start = std::chrono::steady_clock::now();
    ProbeOutcome o = RunProbeCell({false, false, false}, s);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    stopper.join();
    EXPECT_EQ(o.result, ProbeResult::kInterrupted) << o.error;
    EXPECT_LT(took, 1.0);
    EXPECT_GE(o.tries, 1u);
    EXPECT_EQ(o.last_errno, "EADDRINUSE");
  });
}

}  // namespace
}  // namespace twbench
