#include "twbench/timewait_probe.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <exception>
#include <thread>

#include "twbench/error_name.h"
#include "twbench/listener.h"
#include "twbench/socket_census.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Clock::time_point After(Clock::time_point t, double seconds) {
  return t + std::chrono::duration_cast<Clock::duration>(
                 std::chrono::duration<double>(seconds));
}

bool Stopped(const ProbeSettings& s) {
  return s.stop != nullptr && s.stop->load();
}

// Why a setup step failed: the call and the errno name.
std::string Failed(const char* call, int err) {
  return std::string(call) + ": " + ErrnoName(err);
}

// Waits (in slices of at most 10 ms, so a stop is seen in time) until `fd`
// has one of `events`, the deadline passes, or the probe is stopped.
// Returns true when the fd is ready.
bool WaitFor(int fd, short events, Clock::time_point deadline,
             const ProbeSettings& s) {
  while (!Stopped(s)) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return false;
    const double left_ms = SecondsBetween(now, deadline) * 1000;
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, static_cast<int>(std::min(10.0, left_ms + 1)));
    if (rc > 0) return true;
  }
  return false;
}

std::uint64_t TimeWaitOnPort(Family family, std::uint16_t port) {
  CensusQuery q;
  q.states = StateBit(TcpState::kTimeWait);
  q.local_port = port;
  q.ipv4 = family == Family::kIPv4;
  q.ipv6 = family == Family::kIPv6;
  return CountTcpSockets(q).time_wait();
}

// Waits until the census shows exactly one TIME_WAIT on out.port (*seen,
// out.time_wait_seen_s set); otherwise the reason, "" when stopped.
std::string AwaitOneTimeWait(const ProbeSettings& s, Clock::time_point born,
                             Clock::time_point deadline, ProbeOutcome& out,
                             bool* seen) {
  while (!Stopped(s)) {
    std::uint64_t tw = 0;
    try {
      tw = TimeWaitOnPort(s.family, out.port);
    } catch (const std::exception& e) {
      return std::string("census: ") + e.what();
    }
    const Clock::time_point now = Clock::now();
    if (tw == 1) {
      out.time_wait_seen_s = SecondsBetween(born, now);
      *seen = true;
      return "";
    }
    if (tw > 1) {
      return "census: " + std::to_string(tw) +
             " TIME_WAIT on the port, expected 1";
    }
    if (now >= deadline) return "census: no TIME_WAIT on the port in time";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return "";  // stopped
}

// Everything up to the TIME_WAIT: the old listener (kept for the caller to
// close or not), and the reference time of the TIME_WAIT's birth.
struct Setup {
  UniqueFd listener;
  Clock::time_point born;
  std::string error;  // "" when the TIME_WAIT is there
};

// Connects a client, accepts, closes the server side first (FIN_WAIT), waits
// for the client to see EOF, then closes the client: its FIN moves the
// server's socket into TIME_WAIT. Waits until the census shows exactly one
// TIME_WAIT on the port.
Setup MakeOneTimeWait(const ProbeCell& cell, const ProbeSettings& s,
                      ProbeOutcome& out) {
  Setup st;
  const Clock::time_point deadline = After(Clock::now(), s.setup_timeout_s);
  ListenerOptions lo;
  lo.family = s.family;
  lo.reuseaddr = cell.old_reuseaddr;
  lo.backlog = 16;
  ListenerResult l = MakeListener(lo);
  if (!l.fd) {
    st.error = std::string("old listener: ") + ToString(l.failed_step) + ": " +
               UvErrorName(l.error);
    return st;
  }
  out.port = l.port;
  st.listener = std::move(l.fd);

  const int domain = s.family == Family::kIPv4 ? AF_INET : AF_INET6;
  UniqueFd client(
      socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!client) return {UniqueFd(), {}, Failed("client socket", errno)};
  const sockaddr_storage addr = LoopbackAddress(s.family, out.port);
  if (connect(client.get(), reinterpret_cast<const sockaddr*>(&addr),
              AddressLength(s.family)) != 0 &&
      errno != EINPROGRESS) {
    return {UniqueFd(), {}, Failed("connect", errno)};
  }
  if (!WaitFor(st.listener.get(), POLLIN, deadline, s)) {
    return {UniqueFd(), {}, Stopped(s) ? "" : "accept: no connection in time"};
  }
  UniqueFd server(accept4(st.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) return {UniqueFd(), {}, Failed("accept", errno)};
  if (!WaitFor(client.get(), POLLOUT, deadline, s)) {
    return {UniqueFd(), {}, Stopped(s) ? "" : "connect: not done in time"};
  }
  server.reset();  // server-first close: the server's end will hold TIME_WAIT
  if (!WaitFor(client.get(), POLLIN, deadline, s)) {
    return {UniqueFd(), {}, Stopped(s) ? "" : "client: no FIN in time"};
  }
  char byte = 0;
  if (recv(client.get(), &byte, 1, 0) != 0) {
    return {UniqueFd(), {}, "client: expected EOF after the server's close"};
  }
  // The reference: the client's FIN is processed on loopback within this
  // close() (or softirq work right after it); the server's socket enters
  // TIME_WAIT then and its 60 s timer starts there.
  st.born = Clock::now();
  client.reset();
  bool seen = false;
  std::string why = AwaitOneTimeWait(s, st.born, deadline, out, &seen);
  if (!seen) return {UniqueFd(), {}, why};
  return st;
}

}  // namespace

std::string CellName(const ProbeCell& cell) {
  return std::string(cell.old_reuseaddr ? "1" : "0") + "/" +
         (cell.new_reuseaddr ? "1" : "0") + "/" +
         (cell.listener_open ? "open" : "closed");
}

std::vector<ProbeCell> AllProbeCells() {
  std::vector<ProbeCell> cells;
  for (bool old_r : {false, true}) {
    for (bool new_r : {false, true}) {
      for (bool open : {true, false}) cells.push_back({old_r, new_r, open});
    }
  }
  return cells;
}

namespace {
// One field of a cell pattern: which of the two values it admits.
std::optional<std::array<bool, 2>> ParseField(std::string_view f,
                                              std::string_view no,
                                              std::string_view yes) {
  if (f == "*") return std::array<bool, 2>{true, true};
  if (f == no) return std::array<bool, 2>{true, false};
  if (f == yes) return std::array<bool, 2>{false, true};
  return std::nullopt;
}
}  // namespace

std::optional<std::vector<ProbeCell>> ParseProbeCells(std::string_view text,
                                                      std::string* why) {
  const std::vector<ProbeCell> all = AllProbeCells();
  if (text == "all") return all;
  std::vector<bool> chosen(all.size(), false);
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(start, comma - start);
    const std::size_t s1 = item.find('/');
    const std::size_t s2 =
        s1 == std::string_view::npos ? s1 : item.find('/', s1 + 1);
    std::optional<std::array<bool, 2>> o, n, l;
    if (s2 != std::string_view::npos &&
        item.find('/', s2 + 1) == std::string_view::npos) {
      o = ParseField(item.substr(0, s1), "0", "1");
      n = ParseField(item.substr(s1 + 1, s2 - s1 - 1), "0", "1");
      l = ParseField(item.substr(s2 + 1), "closed", "open");
    }
    if (!o || !n || !l) {
      // Appended, not "'" + string: GCC 12 warns falsely (-Wrestrict) on
      // that at -O3.
      *why = std::string("'").append(item).append(
          "' is not OLD/NEW/LISTENER (OLD and NEW: 0, 1 or *; LISTENER: "
          "open, closed or *), e.g. 1/1/closed,0/0/open, or all");
      return std::nullopt;
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      const ProbeCell& c = all[i];
      if ((*o)[c.old_reuseaddr] && (*n)[c.new_reuseaddr] &&
          (*l)[c.listener_open]) {
        chosen[i] = true;
      }
    }
    start = comma + 1;
  }
  std::vector<ProbeCell> cells;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (chosen[i]) cells.push_back(all[i]);
  }
  return cells;
}

const char* ToString(ProbeResult result) {
  switch (result) {
    case ProbeResult::kBound:
      return "bound";
    case ProbeResult::kStillFailing:
      return "still_failing";
    case ProbeResult::kInterrupted:
      return "interrupted";
    case ProbeResult::kError:
      return "error";
  }
  return "?";
}

ProbeOutcome RunProbeCell(const ProbeCell& cell, const ProbeSettings& s,
                          ProbeLive* live) {
  ProbeOutcome out;
  out.cell = cell;
  out.family = s.family;
  Setup st = MakeOneTimeWait(cell, s, out);
  if (!st.listener) {
    out.result =
        st.error.empty() ? ProbeResult::kInterrupted : ProbeResult::kError;
    out.error = st.error;
    if (live != nullptr) live->done.store(true);
    return out;
  }
  if (!cell.listener_open) st.listener.reset();
  const Clock::time_point give_up = After(st.born, s.bound_s);
  // What a restarting server does, as the churn's restarts do it: socket ->
  // SO_REUSEADDR as the cell says -> bind(the same address and port) ->
  // listen.
  ListenerOptions again;
  again.family = s.family;
  again.port = out.port;
  again.reuseaddr = cell.new_reuseaddr;
  again.backlog = 16;
  ListenerResult t;
  out.result = ProbeResult::kStillFailing;
  const char* failed_step = "";  // of the last try that failed
  int failed_errno = 0;
  // At least one try, even when the setup ate the whole bound.
  for (Clock::time_point start = Clock::now();; start = Clock::now()) {
    t = MakeListener(again);
    ++out.tries;
    out.seconds = SecondsBetween(st.born, Clock::now());
    if (live != nullptr) live->tries.store(out.tries);
    if (t.fd) {
      out.result = ProbeResult::kBound;
      break;
    }
    failed_step = ToString(t.failed_step);
    failed_errno = -t.error;  // libuv's code is the negative errno
    // The next try starts 10 ms after this one started (not after it ended).
    const Clock::time_point next = After(start, s.interval_s);
    if (next > give_up) break;
    while (!Stopped(s) && Clock::now() < next) {
      std::this_thread::sleep_until(std::min(next, After(Clock::now(), 0.01)));
    }
    if (Stopped(s)) {
      out.result = ProbeResult::kInterrupted;
      out.seconds = SecondsBetween(st.born, Clock::now());
      break;
    }
  }
  out.last_step = failed_step;
  out.last_errno = failed_errno != 0 ? ErrnoName(failed_errno) : "";
  try {
    out.time_wait_left =
        static_cast<std::int64_t>(TimeWaitOnPort(s.family, out.port));
  } catch (const std::exception& e) {
    out.error = std::string("census at the end: ") + e.what();
  }
  if (live != nullptr) live->done.store(true);
  return out;
}

}  // namespace twbench
