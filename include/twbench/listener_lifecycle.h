// The server listener's lifecycle as one state machine: its states, the
// events that move it, and every transition in one function. The actions
// taken on entering a state are the server's (harness/churn_server.cpp);
// public so that a test can walk the table.
#pragma once

#include <optional>

namespace twbench {

enum class ListenerState {
  kOpen,               // listening, the churn runs
  kDraining,           // listening, the client is done: the last accepts
  kClosingForRestart,  // uv_close called for a restart, callback pending
  kRestartRetrying,    // no listener: binding a new one, with backoff
  kRestartFailed,      // no listener: the restart gave up at its bound
  kClosingForGood,     // uv_close called at the end of the run
  kClosed,             // no listener, for good: waits for the last connection
  kRebound,            // the end: timers closed, the rebind tried
  // restart_mode=overlap: the new listener joins the old one first.
  kOverlapBinding,      // open; one try to bind a new listener beside it
  kOverlapDrainingOld,  // both listening: the new one serves, the old one
                        // accepts what its queue holds until its close is due
  kOverlapClosingOld,   // the new one serves; the old one's uv_close called
};

enum class ListenerEvent {
  kAcceptCountReached,    // the restart_every-th accept since the last start
  kStopRequested,         // the client finished
  kAcceptsDone,           // every connection the client saw is accepted
  kDrainTimeout,          // the drain's bound struck
  kCloseCallback,         // the listener handle is closed
  kBindOk,                // a restart's new listener is listening
  kBindFailed,            // a restart's bind() or listen() failed
  kRetryBoundHit,         // restart_max_wait_s passed without a listener
  kLastConnectionClosed,  // no accepted connection is open
  kOverlapCountReached,   // the restart_every-th accept, restart_mode=overlap
  kRetireDue,             // overlap: the old listener's queue was accepted
  kRetiredClosed,         // overlap: the old listener handle is closed
};

// The state `event` leads to from `state`; nullopt when the event means
// nothing there (it is then ignored).
std::optional<ListenerState> NextListenerState(ListenerState state,
                                               ListenerEvent event);

const char* ToString(ListenerState state);

}  // namespace twbench
