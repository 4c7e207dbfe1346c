// The TIME_WAIT ledger: each way out of TIME_WAIT from the counter that
// measures it, and the rest.
#include "twbench/time_wait_ledger.h"

namespace twbench {

TimeWaitLedger BalanceTimeWait(const TimeWaitLedgerInputs& in) {
  TimeWaitLedger l;
  l.entered = in.entered;
  l.held = in.held;
  l.recycled = in.recycled;
  l.killed = in.killed;
  // Only the server's TIME_WAIT meets the next SYN of its tuple: the
  // client's own is recycled by connect() (TWRecycled) or never reused.
  l.taken_over = in.closer == Closer::kServer ? in.tuple_reuses : 0;
  // An abort's RST goes to a live peer, never to a TIME_WAIT.
  if (!in.rfc1337 && in.out_rsts > in.abort_rsts) {
    l.reset = in.out_rsts - in.abort_rsts;
  }
  l.expired = in.expired;
  const std::uint64_t explained =
      l.held + l.recycled + l.killed + l.taken_over + l.reset + l.expired;
  l.unexplained = static_cast<std::int64_t>(l.entered) -
                  static_cast<std::int64_t>(explained);
  return l;
}

}  // namespace twbench
