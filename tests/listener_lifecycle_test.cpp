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

TEST(ListenerLifecycleTest, OtherEventsAreIgnored) {
  // No restart once the client is done; no rebind while a listener is up.
  EXPECT_FALSE(NextListenerState(S::kDraining, E::kAcceptCountReached));
  EXPECT_FALSE(NextListenerState(S::kOpen, E::kLastConnectionClosed));
  EXPECT_FALSE(NextListenerState(S::kRestartFailed, E::kLastConnectionClosed));
  EXPECT_FALSE(NextListenerState(S::kClosingForGood, E::kDrainTimeout));
  for (int e = 0; e <= static_cast<int>(E::kLastConnectionClosed); ++e) {
    EXPECT_FALSE(NextListenerState(S::kRebound, static_cast<E>(e)));
  }
}

}  // namespace
}  // namespace twbench
