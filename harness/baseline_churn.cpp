// The bare-epoll baseline churn: what closer=server payload=0 costs when
// nothing but the kernel's own work is done per connection. Kept as plain as
// the syscalls allow, so that the engine's extra time over it is the
// harness's (libuv, bookkeeping), not the kernel's.
#include "twbench/baseline_churn.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "twbench/listener.h"
#include "twbench/run_clock.h"
#include "twbench/settings.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

constexpr std::uint64_t kSweepNs = 10'000'000;  // as the engine's sweep timer
constexpr int kMaxEvents = 256;
constexpr int kAcceptPauseMs = 1;  // as the engine's accept throttle

// ------------------------------------------------------------------ server

// Accepts and closes at once until told to stop through the eventfd.
class BaselineServer {
 public:
  BaselineServer(int listener, ServerStats* stats)
      : listener_(listener), stats_(stats) {}

  // Setup that must not fail: "" or the call that failed and its errno.
  std::string Init() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    stop_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!epoll_ || !stop_)
      return std::string("epoll/eventfd: ") + strerror(errno);
    for (int fd : {listener_, stop_.get()}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        return std::string("epoll_ctl: ") + strerror(errno);
      }
    }
    return {};
  }

  void Run() {
    epoll_event events[2];
    for (;;) {
      const int n =
          epoll_wait(epoll_.get(), events, 2, paused_ ? kAcceptPauseMs : -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // EBADF/EINVAL: a bug; the client's deadlines end it
      if (paused_) Watch(EPOLLIN);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == stop_.get()) return;
        if (!paused_) AcceptAll();
      }
    }
  }

  // Thread-safe: wakes Run() to return.
  void RequestStop() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = write(stop_.get(), &one, sizeof(one));
  }

 private:
  // Drains the accept queue, as libuv's server callback does.
  void AcceptAll() {
    for (;;) {
      const int fd =
          accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        ++stats_->accepted;
        close(fd);  // server-side close: FIN now, TIME_WAIT here
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const int err = errno;
      stats_->errors.Add(Step::kAccept, -err);  // EMFILE, ECONNABORTED, ...
      if (ShouldBackOff(err)) Pause();
      return;
    }
  }

  // Out of fds the listener stays readable and accept(2) fails at once: stop
  // watching it for 1 ms instead of spinning, while connections close.
  void Pause() {
    ++stats_->accept_pauses;
    Watch(0);
  }

  // EPOLLIN: the listener is watched (paused_ false); 0: paused.
  void Watch(std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = listener_;
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listener_, &ev);
    paused_ = events == 0;
  }

  int listener_;
  ServerStats* stats_;
  UniqueFd epoll_;
  UniqueFd stop_;
  bool paused_ = false;  // the listener is out of the epoll set's interest
};

// ------------------------------------------------------------------ client

struct Slot {
  UniqueFd fd;
  std::uint64_t start_ns = 0;
  bool backoff = false;  // restart on the next sweep (out of fds)
  bool done = false;     // no further connection: budget or time spent
};

class BaselineClient {
 public:
  BaselineClient(const Scenario& b, sockaddr_storage server,
                 const std::atomic<bool>* stop, ClientStats* stats)
      : b_(b),
        server_(server),
        deadline_(b.time_limit_s, b.connection_timeout_s, stop),
        stats_(stats),
        slots_(static_cast<std::size_t>(b.concurrency)) {}

  std::string Init() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return std::string("epoll_create1: ") + strerror(errno);
    return {};
  }

  void Run() {
    deadline_.Start(NowNs());
    next_sweep_ns_ = deadline_.start_ns() + kSweepNs;
    for (std::size_t i = 0; i < slots_.size(); ++i) ready_.push_back(i);
    std::vector<epoll_event> events(kMaxEvents);
    std::vector<std::size_t> starting;
    while (done_ < slots_.size()) {
      // Slots freed in the last turn start now, after the event batch (as
      // libuv's close callbacks run): a connect that fails at once is
      // retried next turn, never in a recursion or a loop without a clock.
      starting.swap(ready_);
      for (std::size_t i : starting) Start(i);
      starting.clear();
      if (done_ == slots_.size()) break;
      const std::uint64_t now = NowNs();
      const int wait_ms =
          !ready_.empty() || now >= next_sweep_ns_
              ? 0
              : static_cast<int>((next_sweep_ns_ - now + 999'999) / 1'000'000);
      const int n =
          epoll_wait(epoll_.get(), events.data(), kMaxEvents, wait_ms);
      for (int i = 0; i < n; ++i) {
        OnEvent(events[i].data.u32, events[i].events);
      }
      if (NowNs() >= next_sweep_ns_) Sweep();
    }
    stats_->seconds = deadline_.SecondsSinceStart(end_ns_);
  }

 private:
  void Start(std::size_t i) {
    Slot& s = slots_[i];
    s.backoff = false;
    if (deadline_.Stopping() || stats_->attempted >= b_.connections) {
      if (deadline_.Stopping()) stats_->hit_time_limit = true;
      s.done = true;
      if (++done_ == slots_.size()) end_ns_ = NowNs();
      return;
    }
    ++stats_->attempted;
    s.start_ns = NowNs();
    const int domain = b_.family == Family::kIPv4 ? AF_INET : AF_INET6;
    s.fd.reset(socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s.fd) {
      // Out of fds or memory: wait for the next sweep, as the engine does.
      s.backoff = ShouldBackOff(errno);
      Fail(i, Step::kConnect, errno);
      return;
    }
    if (connect(s.fd.get(), reinterpret_cast<const sockaddr*>(&server_),
                AddressLength(b_.family)) != 0 &&
        errno != EINPROGRESS) {
      Fail(i, Step::kConnect, errno);
      return;
    }
    // The server's FIN (EPOLLIN/EPOLLRDHUP) ends a connection; a refused or
    // reset one shows as EPOLLERR/EPOLLHUP, which epoll always reports.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s.fd.get(), &ev) != 0) {
      Fail(i, Step::kConnect, errno);
    }
  }

  void OnEvent(std::uint32_t i, std::uint32_t events) {
    Slot& s = slots_[i];
    if (!s.fd) return;  // closed by a sweep in this same batch
    if ((events & EPOLLERR) != 0) {
      const int err = GetIntSockopt(s.fd.get(), SOL_SOCKET, SO_ERROR);
      // Refused before it was established, or reset after: either way the
      // FIN never came. SO_ERROR names why.
      Fail(i, Step::kConnect, err > 0 ? err : EIO);
      return;
    }
    char buf[256];
    const ssize_t n = read(s.fd.get(), buf, sizeof(buf));
    if (n == 0) {  // EOF: the server closed first, as it should
      ++stats_->completed;
      ++stats_->connected;
      stats_->latency.Record(NowNs() - s.start_ns);
      Restart(i);
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // payload=0: the server sends nothing; bytes are a protocol error.
    Fail(i, Step::kRead, n < 0 ? errno : EPROTO);
  }

  void Fail(std::size_t i, Step step, int err) {
    stats_->errors.Add(step, -err);
    Restart(i);
  }

  // close(2) also drops the fd from the epoll set (its only reference).
  // The slot's next connection starts at the top of the loop.
  void Restart(std::size_t i) {
    slots_[i].fd.reset();
    if (!slots_[i].backoff) ready_.push_back(i);
  }

  // The run's time limit, each connection's deadline, slots in backoff.
  void Sweep() {
    const std::uint64_t now = NowNs();
    next_sweep_ns_ = now + kSweepNs;
    if (deadline_.StrikesNow(now)) {
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].fd) ++stats_->unfinished;
      }
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.done) continue;
      if (deadline_.Struck() && s.fd) {
        Restart(i);  // cut: counted in unfinished, not an error
      } else if (s.fd && deadline_.Overdue(s.start_ns, now)) {
        // Where it hung: no peer yet (handshake) or no FIN (read).
        sockaddr_storage peer{};
        socklen_t len = sizeof(peer);
        const bool established =
            getpeername(s.fd.get(), reinterpret_cast<sockaddr*>(&peer), &len) ==
            0;
        Fail(i, established ? Step::kRead : Step::kConnect, ETIMEDOUT);
      } else if (!s.fd && s.backoff) {
        s.backoff = false;
        ready_.push_back(i);
      }
    }
  }

  const Scenario& b_;
  sockaddr_storage server_;
  RunDeadline deadline_;
  ClientStats* stats_;
  UniqueFd epoll_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> ready_;  // slots to start at the next turn
  std::size_t done_ = 0;
  std::uint64_t end_ns_ = 0;
  std::uint64_t next_sweep_ns_ = 0;
};

}  // namespace

std::string WhyNotBaseline(const Scenario& s) {
  if (std::string why = Validate(s); !why.empty()) return why;
  // Doing less than asked would measure something else (settings.h).
  if (std::string away = BaselineUnsupported(s); !away.empty()) {
    return "not in the baseline: " + away;
  }
  return {};
}

ChurnStats RunBaselineChurn(const Scenario& b, const std::atomic<bool>* stop) {
  ChurnStats stats;
  if (std::string why = WhyNotBaseline(b); !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  ListenerOptions options;
  options.family = b.family;
  options.backlog = b.backlog;
  options.port = b.port;
  ListenerResult l = MakeListener(options);  // non-blocking, port 0
  if (!l.fd) {
    RecordListenerFailure(l, &stats);
    return stats;
  }
  stats.server_port = l.port;
  BaselineServer server(l.fd.get(), &stats.server);
  BaselineClient client(b, LoopbackAddress(b.family, l.port), stop,
                        &stats.client);
  for (std::string why : {server.Init(), client.Init()}) {
    if (!why.empty()) {
      stats.fatal = why;
      return stats;
    }
  }
  std::thread server_thread;
  if (b.server_accepts)
    server_thread = std::thread([&server] { server.Run(); });
  client.Run();
  if (server_thread.joinable()) {
    server.RequestStop();
    server_thread.join();
  }
  return stats;  // the listener closes with `l`
}

}  // namespace twbench
