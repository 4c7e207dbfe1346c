#include "twbench/listener_lifecycle.h"

namespace twbench {

std::optional<ListenerState> NextListenerState(ListenerState state,
                                               ListenerEvent event) {
  using S = ListenerState;
  using E = ListenerEvent;
  switch (state) {
    case S::kOpen:
      if (event == E::kAcceptCountReached) return S::kClosingForRestart;
      if (event == E::kOverlapCountReached) return S::kOverlapBinding;
      if (event == E::kStopRequested) return S::kDraining;
      break;
    case S::kOverlapBinding:
      if (event == E::kBindOk) return S::kOverlapDrainingOld;
      // No retries: the old listener keeps serving until the next count.
      if (event == E::kBindFailed) return S::kOpen;
      break;
    case S::kOverlapDrainingOld:
      if (event == E::kRetireDue) return S::kOverlapClosingOld;
      // The old listener closes at once; the new one drains as usual.
      if (event == E::kStopRequested) return S::kDraining;
      break;
    case S::kOverlapClosingOld:
      if (event == E::kRetiredClosed) return S::kOpen;
      if (event == E::kStopRequested) return S::kDraining;
      break;
    case S::kDraining:
      if (event == E::kAcceptsDone || event == E::kDrainTimeout) {
        return S::kClosingForGood;
      }
      break;
    case S::kClosingForRestart:
      if (event == E::kCloseCallback) return S::kRestartRetrying;
      // The close is under way; its callback ends the listener for good.
      if (event == E::kStopRequested) return S::kClosingForGood;
      break;
    case S::kRestartRetrying:
      if (event == E::kBindOk) return S::kOpen;
      if (event == E::kBindFailed) return S::kRestartRetrying;
      if (event == E::kRetryBoundHit) return S::kRestartFailed;
      if (event == E::kStopRequested) return S::kClosed;
      break;
    case S::kRestartFailed:
      if (event == E::kStopRequested) return S::kClosed;
      break;
    case S::kClosingForGood:
      if (event == E::kCloseCallback) return S::kClosed;
      break;
    case S::kClosed:
      if (event == E::kLastConnectionClosed) return S::kRebound;
      break;
    case S::kRebound:
      break;
  }
  return std::nullopt;
}

const char* ToString(ListenerState state) {
  switch (state) {
    case ListenerState::kOpen:
      return "open";
    case ListenerState::kDraining:
      return "draining";
    case ListenerState::kClosingForRestart:
      return "closing_for_restart";
    case ListenerState::kRestartRetrying:
      return "restart_retrying";
    case ListenerState::kRestartFailed:
      return "restart_failed";
    case ListenerState::kClosingForGood:
      return "closing_for_good";
    case ListenerState::kClosed:
      return "closed";
    case ListenerState::kRebound:
      return "rebound";
    case ListenerState::kOverlapBinding:
      return "overlap_binding";
    case ListenerState::kOverlapDrainingOld:
      return "overlap_draining_old";
    case ListenerState::kOverlapClosingOld:
      return "overlap_closing_old";
  }
  return "?";
}

}  // namespace twbench
