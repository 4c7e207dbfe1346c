// The TIME_WAIT duration probe: make one TIME_WAIT on a listener's port by a
// server-first close, then try to bind and listen on that port every 10 ms
// until it works or a bound strikes, and say how long it took. One cell is one
// combination of the old listener's SO_REUSEADDR, the new socket's
// SO_REUSEADDR, and whether the old listener is still open; the kernel decides
// a rebind by the options of both the old sockets and the new one.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twbench/scenario.h"

namespace twbench {

struct ProbeCell {
  bool old_reuseaddr = false;  // the listener that leaves the TIME_WAIT
  bool new_reuseaddr = false;  // the socket that tries to bind the port again
  bool listener_open = false;  // the old listener is kept open meanwhile
};

// "OLD/NEW/LISTENER", e.g. "1/1/closed", "0/0/open".
std::string CellName(const ProbeCell& cell);

// The 8 cells in table order: old 0,1 x new 0,1 x open, closed.
std::vector<ProbeCell> AllProbeCells();

// Parses a comma-separated list of "OLD/NEW/LISTENER" (OLD and NEW 0, 1 or
// *; LISTENER open, closed or *), or "all". Cells come out in table order,
// each once. nullopt with *why naming the bad item when it does not parse.
std::optional<std::vector<ProbeCell>> ParseProbeCells(std::string_view text,
                                                      std::string* why);

enum class ProbeResult { kBound, kStillFailing, kInterrupted, kError };
const char* ToString(ProbeResult result);  // "bound", "still_failing", ...

struct ProbeSettings {
  Family family = Family::kIPv4;
  // Seconds from the TIME_WAIT's birth after which the cell gives up.
  double bound_s = 90;
  double interval_s = 0.010;  // between the starts of two tries
  // Seconds the setup (connect, accept, closes, the TIME_WAIT showing up in
  // the census) may take before the cell is an error.
  double setup_timeout_s = 5;
  // Polled between tries (and during setup): true stops the cell as
  // `interrupted`. May be null.
  const std::atomic<bool>* stop = nullptr;
};

// What a running cell shows to another thread (for a progress line).
struct ProbeLive {
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> tries{0};
};

struct ProbeOutcome {
  ProbeCell cell;
  Family family = Family::kIPv4;
  ProbeResult result = ProbeResult::kError;
  // Seconds from the TIME_WAIT's birth (just before the client's close(), whose
  // FIN moves the server's socket into TIME_WAIT) to the end of the last try:
  // the successful listen() for `bound`, the last failure otherwise. Negative
  // when the setup never got that far.
  double seconds = -1;
  // Seconds from the same reference until the census first showed the one
  // TIME_WAIT on the port (how late the reference might be); -1 if never.
  double time_wait_seen_s = -1;
  std::uint64_t tries = 0;
  // The last FAILED try's step (socket, setsockopt, bind, listen) and errno
  // name ("EADDRINUSE"): for `bound`, what blocked the port before it came
  // free; "" when no try failed.
  std::string last_step;
  std::string last_errno;
  // TIME_WAIT sockets on the port (local port) when the cell ended; -1 when the
  // census failed or the setup did not get that far.
  std::int64_t time_wait_left = -1;
  std::uint16_t port = 0;  // the listener's port (kernel-picked)
  std::string error;       // why, for result kError; "" otherwise
};

// Runs one cell in the calling thread's network namespace, on a port the
// kernel picks. Every wait is bounded (setup_timeout_s, bound_s); never
// throws. `live`, if given, is updated as the cell runs.
ProbeOutcome RunProbeCell(const ProbeCell& cell, const ProbeSettings& settings,
                          ProbeLive* live = nullptr);

}  // namespace twbench
