#include "baseline_server.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "twbench/listener.h"
#include "twbench/run_clock.h"

namespace twbench {
namespace {

constexpr int kMaxEvents = 256;
constexpr int kAcceptPauseMs = 1;  // as the engine's accept throttle
constexpr std::uint64_t kDrainNs = 1'000'000'000;  // as the engine's drain

std::string Failed(const char* call) {
  return std::string(call) + ": " + std::strerror(errno);
}

}  // namespace

BaselineServer::BaselineServer(const Scenario& b, int listener,
                               BaselineServerPart* part,
                               std::span<const BaselineServerPart> group)
    : b_(b),
      listener_(listener),
      part_(part),
      stats_(&part->stats),
      group_(group) {
  // A shared listener in several epoll sets wakes every one of them per
  // connection (the thundering herd); all but one find accept4 EAGAIN.
  // EPOLLEXCLUSIVE (Linux 4.5) is the kernel's answer: one waiting set is
  // woken. The engine's libuv loops cannot ask for it (uv_listen polls with
  // plain EPOLLIN), so they pay the herd; docs/speed.md.
  if (b.accept == AcceptMode::kShared && b.loops > 1) {
    listener_events_ |= EPOLLEXCLUSIVE;
  }
}

std::string BaselineServer::Init() {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return Failed("epoll_create1");
  stop_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop_) return Failed("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = stop_.get();
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_.get(), &ev) != 0) {
    return Failed("epoll_ctl stop");
  }
  ev.events = listener_events_;
  ev.data.fd = listener_;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_, &ev) != 0) {
    return Failed("epoll_ctl listener");
  }
  return {};
}

void BaselineServer::Run() {
  while (Turn(paused_ ? kAcceptPauseMs : -1)) {
  }
  Drain();
}

void BaselineServer::RequestStop(std::uint64_t client_connected) {
  expected_accepts_.store(client_connected);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t w = write(stop_.get(), &one, sizeof(one));
}

bool BaselineServer::Turn(int timeout_ms) {
  epoll_event events[kMaxEvents];
  const int n = epoll_wait(epoll_.get(), events, kMaxEvents, timeout_ms);
  if (n < 0 && errno == EINTR) return true;
  if (n < 0) return false;  // EBADF/EINVAL: a bug; the clients' deadlines end
  if (paused_) Resume();
  bool stop = false;
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == stop_.get()) {
      // Out of the set: the drain's turns must not see it again.
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      stop = true;
    } else if (fd == listener_) {
      if (!paused_) AcceptAll();
    } else {
      OnConnection(fd, events[i].events);
    }
  }
  return !stop;
}

// Drains the accept queue, as libuv's server callback does.
void BaselineServer::AcceptAll() {
  for (;;) {
    const int fd =
        accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ++stats_->accepted;
      part_->accepted.store(stats_->accepted, std::memory_order_relaxed);
      Serve(fd);
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

// closer=server: close at once (FIN now, TIME_WAIT here). closer=rst: the
// same close; the socket inherited SO_LINGER {1,0} from the listener, so it
// sends RST and skips TIME_WAIT. closer=client: wait for the client's FIN.
void BaselineServer::Serve(int fd) {
  if (b_.closer != Closer::kClient) {
    close(fd);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    stats_->errors.Add(Step::kRead, -errno);
    close(fd);
    return;
  }
  const auto i = static_cast<std::size_t>(fd);
  if (open_.size() <= i) open_.resize(i + 1, 0);
  open_[i] = 1;
  ++open_count_;
}

// The client's FIN shows as EPOLLRDHUP: that is the EOF a read would return
// (payload=0, nothing else comes), so the socket is closed without the read.
void BaselineServer::OnConnection(int fd, std::uint32_t events) {
  if ((events & EPOLLERR) != 0) {
    const int err = GetIntSockopt(fd, SOL_SOCKET, SO_ERROR);
    stats_->errors.Add(Step::kRead, -(err > 0 ? err : EIO));
  } else if ((events & (EPOLLRDHUP | EPOLLHUP)) == 0) {
    char buf[64];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n != 0) stats_->errors.Add(Step::kRead, n < 0 ? -errno : -EPROTO);
  }
  CloseConnection(fd);
}

// close(2) also drops the fd from the epoll set (its only reference).
void BaselineServer::CloseConnection(int fd) {
  open_[static_cast<std::size_t>(fd)] = 0;
  --open_count_;
  close(fd);
}

// Out of fds the listener stays readable and accept(2) fails at once: it
// leaves the epoll set for 1 ms instead of spinning, while connections close.
// DEL and ADD, not MOD: an EPOLLEXCLUSIVE entry cannot be modified.
void BaselineServer::Pause() {
  ++stats_->accept_pauses;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_, nullptr);
  paused_ = true;
}

void BaselineServer::Resume() {
  epoll_event ev{};
  ev.events = listener_events_;
  ev.data.fd = listener_;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_, &ev);
  paused_ = false;
}

bool BaselineServer::AllAccepted() const {
  std::uint64_t accepted = 0;
  for (const BaselineServerPart& p : group_) {
    accepted += p.accepted.load(std::memory_order_relaxed);
  }
  return accepted >= expected_accepts_.load();
}

// The clients are done. Connections they saw established may still sit in an
// accept queue (this thread's or, with reuseport, another's): closing a
// listener resets them, and that RST would kill the client's TIME_WAIT. So,
// as the engine does, accept until every thread together has them all, and
// (closer=client) until their FINs have come; 1 s at most, then whatever is
// still open is closed and counted as forced.
void BaselineServer::Drain() {
  const std::uint64_t until = NowNs() + kDrainNs;
  while (!AllAccepted() || open_count_ > 0) {
    if (NowNs() >= until) break;
    Turn(1);
  }
  for (std::size_t fd = 0; fd < open_.size(); ++fd) {
    if (open_[fd] == 0) continue;
    ++stats_->server_forced_closes;
    CloseConnection(static_cast<int>(fd));
  }
}

}  // namespace twbench
