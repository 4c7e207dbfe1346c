// The listener's state machine as a table: the transitions the server's
// restarts, drain and rebind rely on, and the events each state ignores.
#include "twbench/listener_lifecycle.h"

#include <gtest/gtest.h>

namespace twbench {
namespace {

using S = ListenerState;
using E = ListenerEvent;

TEST(ListenerLifecycleTest, ARestartThatBindsComesBackOpen) {
  S s = S::kOpen;
  for (E e : {E::kAcceptCountReached, E::kCloseCallback, E::kBindFailed,
              E::kBindFailed, E::kBindOk}) {
    std::optional<S> next = NextListenerState(s, e);
    ASSERT_TRUE(next.has_value()) << ToString(s);
    s = *next;
  }
  EXPECT_EQ(s, S::kOpen);
}

TEST(ListenerLifecycleTest, TheEndOfARunDrainsClosesAndRebinds) {
  EXPECT_EQ(NextListenerState(S::kOpen, E::kStopRequested), S::kDraining);
  EXPECT_EQ(NextListenerState(S::kDraining, E::kAcceptsDone),
            S::kClosingForGood);
  EXPECT_EQ(NextListenerState(S::kDraining, E::kDrainTimeout),
            S::kClosingForGood);
  EXPECT_EQ(NextListenerState(S::kClosingForGood, E::kCloseCallback),
            S::kClosed);
  EXPECT_EQ(NextListenerState(S::kClosed, E::kLastConnectionClosed),
            S::kRebound);
}

TEST(ListenerLifecycleTest, AStopCutsARestartWhereverItIs) {
  EXPECT_EQ(NextListenerState(S::kClosingForRestart, E::kStopRequested),
            S::kClosingForGood);
  EXPECT_EQ(NextListenerState(S::kRestartRetrying, E::kStopRequested),
            S::kClosed);
  EXPECT_EQ(NextListenerState(S::kRestartRetrying, E::kRetryBoundHit),
            S::kRestartFailed);
  EXPECT_EQ(NextListenerState(S::kRestartFailed, E::kStopRequested),
            S::kClosed);
}

TEST(ListenerLifecycleTest, AnOverlapRestartNeverLeavesTheServerWithout) {
  // Every state on the way has a listener: bind beside, drain, close old.
  S s = S::kOpen;
  for (E e : {E::kOverlapCountReached, E::kBindOk, E::kRetireDue,
              E::kRetiredClosed}) {
    std::optional<S> next = NextListenerState(s, e);
    ASSERT_TRUE(next.has_value()) << ToString(s);
    s = *next;
  }
  EXPECT_EQ(s, S::kOpen);
}

TEST(ListenerLifecycleTest, AFailedOverlapKeepsTheOldListener) {
  EXPECT_EQ(NextListenerState(S::kOpen, E::kOverlapCountReached),
            S::kOverlapBinding);
  EXPECT_EQ(NextListenerState(S::kOverlapBinding, E::kBindFailed), S::kOpen);
  // One try per restart_every accepts: no retry, no retry bound.
  EXPECT_FALSE(NextListenerState(S::kOverlapBinding, E::kRetryBoundHit));
}

TEST(ListenerLifecycleTest, AStopDuringAnOverlapDrainsTheNewListener) {
  EXPECT_EQ(NextListenerState(S::kOverlapDrainingOld, E::kStopRequested),
            S::kDraining);
  EXPECT_EQ(NextListenerState(S::kOverlapClosingOld, E::kStopRequested),
            S::kDraining);
  // The old listener's timer and close callback come too late to matter.
  for (S late : {S::kDraining, S::kClosingForGood, S::kClosed, S::kRebound}) {
    EXPECT_FALSE(NextListenerState(late, E::kRetireDue)) << ToString(late);
    EXPECT_FALSE(NextListenerState(late, E::kRetiredClosed)) << ToString(late);
  }
  // Another restart waits until the old listener is closed: one spare slot.
  EXPECT_FALSE(
      NextListenerState(S::kOverlapDrainingOld, E::kOverlapCountReached));
  EXPECT_FALSE(
      NextListenerState(S::kOverlapClosingOld, E::kOverlapCountReached));
  // The old listener's close callback is not the listener's.
  EXPECT_FALSE(NextListenerState(S::kOverlapClosingOld, E::kCloseCallback));
}

TEST(ListenerLifecycleTest, OtherEventsAreIgnored) {
  // No restart once the client is done; no rebind while a listener is up.
  EXPECT_FALSE(NextListenerState(S::kDraining, E::kAcceptCountReached));
  EXPECT_FALSE(NextListenerState(S::kOpen, E::kLastConnectionClosed));
  EXPECT_FALSE(NextListenerState(S::kRestartFailed, E::kLastConnectionClosed));
  EXPECT_FALSE(NextListenerState(S::kClosingForGood, E::kDrainTimeout));
  for (int e = 0; e <= static_cast<int>(E::kRetiredClosed); ++e) {
    EXPECT_FALSE(NextListenerState(S::kRebound, static_cast<E>(e)));
  }
}

}  // namespace
}  // namespace twbench
