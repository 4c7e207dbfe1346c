#include "baseline_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "twbench/listener.h"

namespace twbench {
namespace {

constexpr std::uint64_t kSweepNs = 10'000'000;  // as the engine's sweep timer
constexpr int kMaxEvents = 256;

std::uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  // sin_port and sin6_port sit at the same offset.
  return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

BaselineClient::BaselineClient(const Scenario& b, BaselineShare share,
                               sockaddr_storage server,
                               const std::atomic<bool>* stop,
                               ClientStats* stats)
    : b_(b),
      share_(std::move(share)),
      server_(server),
      deadline_(b.time_limit_s, b.connection_timeout_s, stop),
      stats_(stats),
      events_(b.closer == Closer::kClient ? EPOLLOUT : EPOLLIN | EPOLLRDHUP),
      slots_(static_cast<std::size_t>(share_.concurrency)),
      next_source_(share_.first_source) {
  // Sized before the run: noting a port allocates nothing.
  stats_->ports_seen.resize(std::max<std::size_t>(1, share_.sources.size()));
}

std::string BaselineClient::Init() {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return std::string("epoll_create1: ") + std::strerror(errno);
  return {};
}

void BaselineClient::Run() {
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
    const int n = epoll_wait(epoll_.get(), events.data(), kMaxEvents, wait_ms);
    for (int i = 0; i < n; ++i) OnEvent(events[i].data.u32, events[i].events);
    if (NowNs() >= next_sweep_ns_) Sweep();
  }
  stats_->seconds = deadline_.SecondsSinceStart(end_ns_);
}

// socket, [setsockopt, bind,] connect, getsockname, epoll_ctl ADD.
void BaselineClient::Start(std::size_t i) {
  Slot& s = slots_[i];
  s.backoff = false;
  if (deadline_.Stopping() || stats_->attempted >= share_.connections) {
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
  if (!share_.sources.empty()) {
    if (int err = BindSource(s); err != 0) {
      ++stats_->client_bind_failures;
      if (err == EADDRINUSE) ++stats_->client_bind_eaddrinuse;
      Fail(i, Step::kBind, err);
      return;
    }
  }
  if (connect(s.fd.get(), reinterpret_cast<const sockaddr*>(&server_),
              AddressLength(b_.family)) != 0 &&
      errno != EINPROGRESS) {
    Fail(i, Step::kConnect, errno);
    return;
  }
  // connect() has chosen the port (the SYN is out): the 4-tuple is known.
  s.port = LocalPort(s.fd.get());
  epoll_event ev{};
  ev.events = events_;
  ev.data.u32 = static_cast<std::uint32_t>(i);
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s.fd.get(), &ev) != 0) {
    Fail(i, Step::kConnect, errno);
  }
}

// The next source address in turn; port 0 with IP_BIND_ADDRESS_NO_PORT:
// bind() takes the address only and connect() picks a port free for the
// whole 4-tuple, as autobind does (the engine's BindLocal). 0 or an errno.
int BaselineClient::BindSource(Slot& s) {
  s.source = static_cast<std::uint32_t>(next_source_);
  const sockaddr_storage& local = share_.sources[next_source_];
  next_source_ = (next_source_ + 1) % share_.sources.size();
  const int on = 1;
  if (setsockopt(s.fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
                 sizeof(on)) != 0 ||
      bind(s.fd.get(), reinterpret_cast<const sockaddr*>(&local),
           AddressLength(b_.family)) != 0) {
    return errno;
  }
  return 0;
}

void BaselineClient::OnEvent(std::size_t i, std::uint32_t events) {
  Slot& s = slots_[i];
  if (!s.fd) return;  // closed by a sweep in this same batch
  if ((events & EPOLLERR) != 0) {
    const int err = GetIntSockopt(s.fd.get(), SOL_SOCKET, SO_ERROR);
    if (err == ECONNRESET && b_.closer == Closer::kRst) {
      ++stats_->resets;  // the server's abort, as meant
      Complete(i);
      return;
    }
    // Refused before it was established, or reset after: either way the
    // closer's end never came. SO_ERROR names why.
    Fail(i, Step::kConnect, err > 0 ? err : EIO);
    return;
  }
  if (b_.closer == Closer::kClient) {
    // Established (EPOLLOUT): the client closes first, at once.
    if ((events & EPOLLOUT) != 0) {
      Complete(i);
    } else {
      Fail(i, Step::kConnect, EIO);  // EPOLLHUP without an error: not seen
    }
    return;
  }
  OnEnded(i);
}

// closer=server: the FIN, read as EOF. closer=rst: the RST, read as
// ECONNRESET (or an EOF, when it raced a FIN): the end all the same.
void BaselineClient::OnEnded(std::size_t i) {
  char buf[256];
  const ssize_t n = read(slots_[i].fd.get(), buf, sizeof(buf));
  if (n == 0) {
    Complete(i);
    return;
  }
  if (n < 0 && errno == ECONNRESET && b_.closer == Closer::kRst) {
    ++stats_->resets;
    Complete(i);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  // payload=0: the server sends nothing; bytes are a protocol error.
  Fail(i, Step::kRead, n < 0 ? errno : EPROTO);
}

// Only a connection that ended the closer's way is known to have been
// established: connected counts those.
void BaselineClient::Complete(std::size_t i) {
  ++stats_->completed;
  ++stats_->connected;
  stats_->latency.Record(NowNs() - slots_[i].start_ns);
  NotePort(slots_[i]);
  Restart(i);
}

// One server address and port: the source address and port are the 4-tuple.
void BaselineClient::NotePort(const Slot& s) {
  if (s.port == 0) return;
  std::bitset<65536>& seen = stats_->ports_seen[s.source];
  if (seen.test(s.port)) {
    ++stats_->tuple_reuses;
  } else {
    ++stats_->client_ports_distinct;
  }
  seen.set(s.port);
}

void BaselineClient::Fail(std::size_t i, Step step, int err) {
  stats_->errors.Add(step, -err);
  Restart(i);
}

// close(2) also drops the fd from the epoll set (its only reference).
// The slot's next connection starts at the top of the loop.
void BaselineClient::Restart(std::size_t i) {
  Slot& s = slots_[i];
  s.fd.reset();
  s.port = 0;
  s.source = 0;
  if (!s.backoff) ready_.push_back(i);
}

// The run's time limit, each connection's deadline, slots in backoff.
void BaselineClient::Sweep() {
  const std::uint64_t now = NowNs();
  next_sweep_ns_ = now + kSweepNs;
  if (deadline_.StrikesNow(now)) {
    for (const Slot& s : slots_) {
      if (s.fd) ++stats_->unfinished;
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

}  // namespace twbench
