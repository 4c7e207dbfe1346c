#include "churn_server.h"

#include <linux/filter.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>

#include "engine_loop.h"
#include "spdlog/spdlog.h"
#include "twbench/error_name.h"
#include "twbench/run_clock.h"
#include "twbench/socket_census.h"

namespace twbench {
namespace {

constexpr std::uint64_t kDrainMs = 1000;  // server's wait for last EOFs
// A restart's retries: 1 ms, doubling up to this, until restart_max_wait_s.
constexpr std::uint64_t kRestartRetryMaxMs = 50;
// overlap: the old listener's wait for handshakes under way, and the looks
// at its queue, each after that wait, before it closes regardless.
constexpr std::uint64_t kRetireWaitMs = 1;
constexpr int kRetireLooksMax = 100;
// The rebind's wait for the run's sockets to finish closing on the wire:
// past a 200 ms RTO and a second one of 400 ms (docs/engine-limits.md).
constexpr double kRebindWaitMaxS = 1.0;

// Which sockets still hold the port when a rebind fails, by TCP state
// ("TIME_WAIT=500", "LAST_ACK=1"): the why of an EADDRINUSE.
std::string Blockers(std::uint16_t port) {
  CensusQuery q;
  q.local_port = port;
  std::string out;
  try {
    TcpStateCounts c = CountTcpSockets(q);
    for (int i = 1; i <= kTcpStateMax; ++i) {
      if (c.by_state[i] == 0) continue;
      if (!out.empty()) out += ' ';
      out += ToString(static_cast<TcpState>(i));
      out += '=' + std::to_string(c.by_state[i]);
    }
  } catch (const std::exception& e) {
    out = std::string("census failed: ") + e.what();
  }
  return out;
}

// Waits until no socket on the port is between close() and TIME_WAIT/CLOSED
// (a bind() meanwhile would meet LAST_ACK instead of what the run left
// behind). *settled: whether it got there (false also when the census
// fails, e.g. EMFILE). Returns ns waited.
std::uint64_t AwaitClosedOnTheWire(std::uint16_t port, bool* settled) {
  const std::uint64_t start = NowNs();
  *settled = false;
  CensusQuery q;
  q.states = 0;  // nothing to count: only the wait for the closing states
  q.local_port = port;
  try {
    *settled = CountTcpSocketsSettled(q, kRebindWaitMaxS).settled;
  } catch (const std::exception& e) {
    spdlog::debug("rebind wait: census failed: {}", e.what());
  }
  return NowNs() - start;
}

// The reuseport group's program while listener `leaving` retires: every new
// connection to another of the group's `members` + 1 sockets (the new one
// appended last), spread by a hash of the client's port. The kernel appends a
// joining socket and moves the last one into a leaver's place, and listeners
// are made in loop order, so loop k's listener is member k. With one member
// this is "return 1", the newer of two. An index out of range makes the
// kernel fall back to its hash. Returns the errno of a failed attach, or 0.
int SteerAwayFrom(int fd, Family family, int leaving, int members) {
  // The run_bpf_filter data starts past the TCP header: the source port is
  // read from the network header (SYNs carry no IP options or extension
  // headers here). connect() picks even ports: the multiply mixes them.
  const std::uint32_t port_at = static_cast<std::uint32_t>(SKF_NET_OFF) +
                                (family == Family::kIPv4 ? 20u : 40u);
  const auto k = static_cast<std::uint32_t>(leaving);
  const auto n = static_cast<std::uint32_t>(members);
  sock_filter spread[] = {
      {BPF_LD | BPF_H | BPF_ABS, 0, 0, port_at},
      {BPF_ALU | BPF_MUL | BPF_K, 0, 0, 0x9e3779b1u},
      {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, n},
      {BPF_JMP | BPF_JGE | BPF_K, 0, 1, k},  // skip the leaving one
      {BPF_ALU | BPF_ADD | BPF_K, 0, 0, 1},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_filter newest[] = {{BPF_RET | BPF_K, 0, 0, 1}};
  sock_fprog prog{1, newest};
  if (members > 1) {
    prog = {static_cast<unsigned short>(std::size(spread)), spread};
  }
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                 sizeof(prog)) != 0) {
    return errno;
  }
  return 0;
}

// Back to the kernel's hash over the group. ENOENT: no program attached.
void Unsteer(uv_tcp_t* listener) {
  uv_os_fd_t fd;
  int unused = 0;
  if (uv_fileno(AsHandle(listener), &fd) == 0 &&
      setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused,
                 sizeof(unused)) != 0 &&
      errno != ENOENT) {
    spdlog::debug("overlap: SO_DETACH_REUSEPORT_BPF: {}", std::strerror(errno));
  }
}

}  // namespace

std::uint64_t ServerGroup::Accepted() const {
  std::uint64_t n = 0;
  for (int i = 0; i < loops; ++i) {
    n += live->server[static_cast<std::size_t>(i)].accepted.load(
        std::memory_order_relaxed);
  }
  return n;
}

// ---------------------------------------------------- the restart group

RestartGroup::RestartGroup(int loops, bool overlap, bool shared)
    : overlap_(overlap),
      shared_(shared),
      asyncs_(static_cast<std::size_t>(loops), nullptr),
      alive_(static_cast<std::size_t>(loops), 0),
      requested_(static_cast<std::size_t>(loops), Request::kNone),
      in_round_(static_cast<std::size_t>(loops), 0),
      closed_(static_cast<std::size_t>(loops), 0),
      up_(loops),
      held_(static_cast<std::size_t>(loops), 0) {}

void RestartGroup::Join(int loop, uv_async_t* async) {
  std::lock_guard lock(mu_);
  const auto i = static_cast<std::size_t>(loop);
  asyncs_[i] = async;
  alive_[i] = 1;
}

void RestartGroup::StartRound() {
  std::lock_guard lock(mu_);
  if (round_running_) return;
  round_running_ = true;
  if (overlap_) {
    EndTurnLocked(-1);
    return;
  }
  pending_ = 0;
  for (std::size_t i = 0; i < alive_.size(); ++i) {
    if (alive_[i] == 0) continue;
    in_round_[i] = 1;
    closed_[i] = 0;
    ++pending_;
    WakeLocked(static_cast<int>(i), Request::kRestart);
  }
  if (pending_ == 0) EndRoundLocked();
}

RestartGroup::Request RestartGroup::TakeRequest(int loop) {
  std::lock_guard lock(mu_);
  const auto i = static_cast<std::size_t>(loop);
  const Request asked = requested_[i];
  requested_[i] = Request::kNone;
  return asked;
}

void RestartGroup::Done(int loop) {
  std::lock_guard lock(mu_);
  const auto i = static_cast<std::size_t>(loop);
  if (in_round_[i] == 0) return;
  in_round_[i] = 0;
  requested_[i] = Request::kNone;
  if (shared_) SharedTurnOverLocked(loop);
  if (overlap_) {
    EndTurnLocked(loop);
  } else if (--pending_ == 0) {
    EndRoundLocked();
  } else if (AllClosedLocked()) {
    WakeClosedLocked(-1);  // the one they waited for left the round
  }
}

void RestartGroup::Leave(int loop) {
  {
    std::lock_guard lock(mu_);
    alive_[static_cast<std::size_t>(loop)] = 0;
  }
  Done(loop);
}

// Only a loop still alive is woken: its async is open.
void RestartGroup::WakeLocked(int loop, Request request) {
  const auto i = static_cast<std::size_t>(loop);
  requested_[i] = request;
  uv_async_send(asyncs_[i]);
}

bool RestartGroup::AllClosedLocked() const {
  for (std::size_t i = 0; i < in_round_.size(); ++i) {
    if (in_round_[i] != 0 && closed_[i] == 0) return false;
  }
  return true;
}

// A loop woken with kRebind that has rebound already ignores it.
void RestartGroup::WakeClosedLocked(int except) {
  for (std::size_t i = 0; i < in_round_.size(); ++i) {
    const int k = static_cast<int>(i);
    if (k != except && in_round_[i] != 0 && alive_[i] != 0) {
      WakeLocked(k, Request::kRebind);
    }
  }
}

// overlap: the turn passes to the next live loop after `loop`; past the
// last one the round ends.
void RestartGroup::EndTurnLocked(int loop) {
  for (int k = loop + 1; k < static_cast<int>(alive_.size()); ++k) {
    if (alive_[static_cast<std::size_t>(k)] == 0) continue;
    in_round_[static_cast<std::size_t>(k)] = 1;
    WakeLocked(k, Request::kRestart);
    return;
  }
  EndRoundLocked();
}

// The loops hold dups of the round's socket: the group lets go of its own.
void RestartGroup::EndRoundLocked() {
  round_running_ = false;
  new_socket_.reset();
  binder_ = -1;
  bind_gave_up_ = false;
}

// The binder's part ended without a socket: it gave up (the others give up
// too), or it left at its stop (another loop binds). stop_start loops
// waiting for it are woken to learn which.
void RestartGroup::SharedTurnOverLocked(int loop) {
  if (binder_ != loop || new_socket_) return;
  if (alive_[static_cast<std::size_t>(loop)] != 0) {
    bind_gave_up_ = true;
  } else {
    binder_ = -1;
  }
  if (!overlap_) WakeClosedLocked(loop);
}

RestartGroup::Shared RestartGroup::TakeShared(int loop, UniqueFd* fd,
                                              int* error, int* generation) {
  std::lock_guard lock(mu_);
  if (new_socket_) {
    *fd = DupListener(new_socket_.get());
    if (!*fd) {
      *error = errno;
    } else {
      held_[static_cast<std::size_t>(loop)] = *generation = generation_;
    }
    return Shared::kTaken;
  }
  if (bind_gave_up_) return Shared::kGaveUp;
  if (binder_ != -1 && binder_ != loop) return Shared::kWait;
  binder_ = loop;
  return Shared::kBind;
}

void RestartGroup::KeepShared(UniqueFd fd) {
  std::lock_guard lock(mu_);
  new_socket_ = std::move(fd);
  ++generation_;
  if (!overlap_) WakeClosedLocked(binder_);  // those waiting take their dup
}

bool RestartGroup::DropShared(int loop, int generation) {
  std::lock_guard lock(mu_);
  if (held_[static_cast<std::size_t>(loop)] == generation) {
    held_[static_cast<std::size_t>(loop)] = -1;
  }
  return std::find(held_.begin(), held_.end(), generation) == held_.end();
}

void RestartGroup::ListenerDown(int loop, std::uint64_t now_ns) {
  std::lock_guard lock(mu_);
  if (--up_ == 0) down_since_ns_ = now_ns;
  closed_[static_cast<std::size_t>(loop)] = 1;
  if (AllClosedLocked()) WakeClosedLocked(loop);
}

bool RestartGroup::MayRebind(int loop) {
  std::lock_guard lock(mu_);
  if (in_round_[static_cast<std::size_t>(loop)] == 0) return true;
  return AllClosedLocked();
}

void RestartGroup::ListenerUp(std::uint64_t now_ns) {
  std::lock_guard lock(mu_);
  if (up_++ == 0 && !client_ended_) down_ns_ += now_ns - down_since_ns_;
}

void RestartGroup::ClientEnded(std::uint64_t end_ns) {
  std::lock_guard lock(mu_);
  if (up_ == 0 && end_ns > down_since_ns_) down_ns_ += end_ns - down_since_ns_;
  client_ended_ = true;
}

std::uint64_t RestartGroup::down_ns() const {
  std::lock_guard lock(mu_);
  return down_ns_;
}

void RestartGroup::PublishCanCome(std::uint64_t accepted,
                                  std::uint64_t queued) {
  std::lock_guard lock(mu_);
  can_come_ += accepted;
  queued_ = shared_ ? std::max(queued_, queued) : queued_ + queued;
  ++published_;
}

std::uint64_t RestartGroup::CanCome() const {
  std::lock_guard lock(mu_);
  if (published_ < static_cast<int>(asyncs_.size())) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return can_come_ + queued_;
}

// ------------------------------------------------------------- the server

Server::Server(const Scenario& s, ServerStats* stats, std::uint16_t port,
               std::optional<sockaddr_storage> address, ServerLive* live,
               const ServerGroup* group, RestartGroup* restarts, int index)
    : s_(s),
      stats_(stats),
      port_(port),
      address_(address),
      live_(live),
      group_(group),
      restarts_(restarts),
      index_(index),
      throttle_(&stats->accept_pauses, group->fd_claims,
                [this] { AcceptOne(AsStream(Active())); }),
      conns_(s, stats, live, [this] {
        if (conns_.open() == 0) On(ListenerEvent::kLastConnectionClosed);
      }) {}

int Server::Init(UniqueFd listener, const char** what) {
  *what = "uv_loop_init";
  if (int rc = InitLoop(&loop_); rc != 0) return rc;
  loop_ready_ = true;
  loop_.data = this;
  *what = "uv_async_init";
  if (int rc = uv_async_init(&loop_, &stop_async_, OnStopAsync); rc != 0) {
    return rc;
  }
  stop_async_.data = this;
  if (restarts_ != nullptr) {
    if (int rc = uv_async_init(&loop_, &restart_async_, OnRestartAsync);
        rc != 0) {
      return rc;
    }
    restart_async_.data = this;
    restarts_->Join(index_, &restart_async_);
  }
  uv_timer_init(&loop_, &drain_);
  drain_.data = this;
  uv_timer_init(&loop_, &drain_poll_);
  drain_poll_.data = this;
  uv_timer_init(&loop_, &restart_timer_);
  restart_timer_.data = this;
  conns_.Init(&loop_);
  throttle_.Init(&loop_);
  uv_tcp_init(&loop_, Active());
  Active()->data = this;
  *what = "uv_tcp_open";
  if (int rc = uv_tcp_open(Active(), listener.get()); rc != 0) return rc;
  listener.release();  // libuv owns the fd now
  // What the kernel has on the live socket, not what was asked for.
  stats_->listener_reuseaddr = ListenerOption(Active(), SO_REUSEADDR);
  stats_->listener_reuseport = ListenerOption(Active(), SO_REUSEPORT);
  if (!s_.server_accepts) return 0;  // listen(2) done; nobody accepts
  *what = "uv_listen";
  return uv_listen(AsStream(Active()), s_.backlog, OnConnection);
}

void Server::RequestStop(std::uint64_t client_connected,
                         std::uint64_t churn_end_ns) {
  expected_accepts_.store(client_connected);
  churn_end_ns_.store(churn_end_ns);
  uv_async_send(&stop_async_);
}

void Server::CloseLoop() { CloseLoopOrDie(&loop_, "server"); }

void Server::Abandon() {
  if (loop_ready_) AbandonLoop(&loop_, "server");
}

// ------------------------------------------------------- the state machine

bool Server::On(ListenerEvent event) {
  const ListenerState from = state_;
  const std::optional<ListenerState> to = NextListenerState(from, event);
  if (!to) return false;
  state_ = *to;
  Enter(from, event);
  return true;
}

void Server::Enter(ListenerState from, ListenerEvent event) {
  if (event == ListenerEvent::kStopRequested &&
      (from == ListenerState::kClosingForRestart ||
       from == ListenerState::kRestartRetrying)) {
    ++stats_->restarts_failed;  // the end of the run cut the restart
    uv_timer_stop(&restart_timer_);
  }
  switch (state_) {
    case ListenerState::kOpen:
      if (from == ListenerState::kRestartRetrying) RestartDone();
      // overlap: the old listener kept serving (the new bind is counted).
      if (from == ListenerState::kOverlapBinding) ++stats_->restarts_failed;
      RoundPartDone();
      break;
    case ListenerState::kDraining:
      uv_timer_stop(&restart_timer_);  // an overlap's retire, if due
      if (from == ListenerState::kOverlapDrainingOld) CloseRetired();
      break;
    case ListenerState::kClosingForRestart:
      BeginRestart();
      break;
    case ListenerState::kRestartRetrying:
      if (event == ListenerEvent::kCloseCallback) {
        // Several loops: the server binds again once all have closed.
        if (restarts_ != nullptr && !restarts_->MayRebind(index_)) {
          waiting_for_group_ = true;
          break;
        }
        TryRestart();  // the handle is free: the new socket goes into it
      } else {
        ScheduleRetry();
      }
      break;
    case ListenerState::kRestartFailed:
      ++stats_->restarts_failed;
      RoundPartDone();
      break;
    case ListenerState::kClosingForGood:
      if (event == ListenerEvent::kDrainTimeout) {
        stats_->drain_waited_for_accepts = true;
      }
      if (from != ListenerState::kClosingForRestart) CloseListener();
      break;
    case ListenerState::kClosed:
      if (conns_.open() == 0) On(ListenerEvent::kLastConnectionClosed);
      break;
    case ListenerState::kRebound:
      CloseTimers();  // the loop ends; RunChurn rebinds (RebindAfterRun)
      break;
    case ListenerState::kOverlapBinding:
      TryOverlap();
      break;
    case ListenerState::kOverlapDrainingOld:
      OverlapDone();
      break;
    case ListenerState::kOverlapClosingOld:
      CloseRetired();
      break;
  }
}

// ------------------------------------------------------------- accepting

void Server::OnConnection(uv_stream_t* listener, int status) {
  static_cast<Server*>(listener->data)->Accept(listener, status);
}

void Server::Accept(uv_stream_t* listener, int status) {
  if (status < 0) {
    // Seldom EMFILE/ENFILE: libuv answers most itself and drops the
    // connections; those are counted where the client sees them end, and in
    // ChurnStats::not_accepted().
    stats_->errors.Add(Step::kAccept, status);
    throttle_.OnAcceptError(status);
    return;
  }
  // The pause's resume accepts on the active listener; a retiring one is
  // never paused (it is about to close and its queue to be reset).
  if (listener == AsStream(Active()) && throttle_.PauseIfDue()) return;
  AcceptOne(listener);
}

void Server::AcceptOne(uv_stream_t* listener) {
  ServerConn* c = conns_.Accept(listener);
  if (c == nullptr) return;
  AfterAccept();
  conns_.Serve(c);
}

// The accept may be the one the drain waited for, or the restart_every-th.
void Server::AfterAccept() {
  if (state_ == ListenerState::kDraining && AllAccepted()) {
    On(ListenerEvent::kAcceptsDone);
  }
  if (s_.restart_every > 0) CountTowardsRestart();
}

// Every accept before the stop counts, also those an overlap's old listener
// makes while it retires; the restart begins in the open state. With a
// restart group, a loop's share of restart_every starts a round of all
// loops (if none runs; asked again every share while one does).
void Server::CountTowardsRestart() {
  using S = ListenerState;
  if (state_ != S::kOpen && state_ != S::kOverlapDrainingOld &&
      state_ != S::kOverlapClosingOld) {
    return;
  }
  if (restarts_ != nullptr) {
    const int share = (s_.restart_every + s_.loops - 1) / s_.loops;
    if (++since_restart_ % share == 0 && state_ == S::kOpen) {
      restarts_->StartRound();
    }
    return;
  }
  if (++since_restart_ < s_.restart_every) return;
  const ListenerEvent due = s_.restart_mode == RestartMode::kOverlap
                                ? ListenerEvent::kOverlapCountReached
                                : ListenerEvent::kAcceptCountReached;
  if (state_ == S::kOpen) {
    since_restart_ = 0;
    On(due);
  }
}

// ------------------------------------------------------------ the stop

void Server::OnStopAsync(uv_async_t* a) {
  static_cast<Server*>(a->data)->Stop();
}

// A round of the restart group reached this loop: it restarts now, or, if
// its listener is not simply open, its part of the round is over.
// Or every loop of a stop_start round has closed: this one binds again.
void Server::OnRestartAsync(uv_async_t* a) {
  auto* self = static_cast<Server*>(a->data);
  switch (self->restarts_->TakeRequest(self->index_)) {
    case RestartGroup::Request::kNone:
      return;
    case RestartGroup::Request::kRebind:
      if (self->waiting_for_group_ &&
          self->state_ == ListenerState::kRestartRetrying) {
        self->waiting_for_group_ = false;
        self->TryRestart();
      }
      return;
    case RestartGroup::Request::kRestart:
      break;
  }
  if (self->state_ != ListenerState::kOpen) {
    self->restarts_->Done(self->index_);
    return;
  }
  self->since_restart_ = 0;
  self->On(self->s_.restart_mode == RestartMode::kOverlap
               ? ListenerEvent::kOverlapCountReached
               : ListenerEvent::kAcceptCountReached);
}

// The loop's restart of a round ended (listening again, or given up).
void Server::RoundPartDone() {
  if (restarts_ != nullptr) restarts_->Done(index_);
}

// The client is done. Connections it made but the server has not yet
// accepted are accepted first: closing a listener resets its accept queue,
// and that RST would kill the client's TIME_WAIT. Then the listener closes;
// open connections close on their EOF. The drain timer bounds both waits.
void Server::Stop() {
  uv_close(AsHandle(&stop_async_), nullptr);
  if (restarts_ != nullptr) {
    restarts_->Leave(index_);  // no wake-up comes after this
    uv_close(AsHandle(&restart_async_), nullptr);
  }
  EndDownTime();
  LimitExpectedAccepts();
  uv_timer_start(&drain_, OnDrainTimeout, kDrainMs, 0);
  On(ListenerEvent::kStopRequested);
  if (state_ == ListenerState::kDraining &&
      (!s_.server_accepts || AllAccepted())) {
    On(ListenerEvent::kAcceptsDone);
  }
  // The accept that completes the count may be another loop's: look again
  // every millisecond while draining.
  if (state_ == ListenerState::kDraining && group_->loops > 1) {
    uv_timer_start(&drain_poll_, OnDrainPoll, 1, 1);
  }
}

// With one loop its own accepts are all; with several, the group's, and
// with restarts in several loops no more than all loops can still accept.
bool Server::AllAccepted() const {
  const std::uint64_t accepted =
      group_->loops > 1 ? group_->Accepted() : stats_->accepted;
  std::uint64_t expected = expected_accepts_.load();
  if (restarts_ != nullptr) expected = std::min(expected, restarts_->CanCome());
  return accepted >= expected;
}

void Server::OnDrainPoll(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  if (self->state_ != ListenerState::kDraining) {
    uv_timer_stop(t);
  } else if (self->AllAccepted()) {
    uv_timer_stop(t);
    self->On(ListenerEvent::kAcceptsDone);
  }
}

// The time the server was down so far counts until the client finished.
void Server::EndDownTime() {
  if (down_since_ns_ == 0) return;
  const std::uint64_t end = churn_end_ns_.load();
  // end < down_since: a restart begun by an accept after the client finished.
  if (end > down_since_ns_) stats_->server_down_ns += end - down_since_ns_;
  down_since_ns_ = 0;
}

// With restarts, connections lost in a closed listener's queue never come:
// wait only for those the live listener holds now.
void Server::LimitExpectedAccepts() {
  if (s_.restart_every <= 0) return;
  // An overlap's old listener, if still open, closes at the stop: its queue
  // is lost (accept_queue_lost).
  const bool listening = state_ == ListenerState::kOpen ||
                         state_ == ListenerState::kOverlapDrainingOld ||
                         state_ == ListenerState::kOverlapClosingOld;
  const std::uint64_t queued = listening ? AcceptQueueLength(Active()) : 0;
  // Several loops: the bound is the group's sum (AllAccepted).
  if (restarts_ != nullptr) {
    restarts_->PublishCanCome(stats_->accepted, queued);
    return;
  }
  expected_accepts_.store(
      std::min(expected_accepts_.load(), stats_->accepted + queued));
}

void Server::OnDrainTimeout(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  self->On(ListenerEvent::kDrainTimeout);
  self->conns_.ForceCloseAll();
}

void Server::CloseListener() {
  throttle_.Cancel();
  uv_timer_stop(&drain_poll_);
  uv_close(AsHandle(Active()), OnListenerClosed);
}

void Server::OnListenerClosed(uv_handle_t* h) {
  static_cast<Server*>(h->data)->On(ListenerEvent::kCloseCallback);
}

// ------------------------------------------------------------- restarts

// close(2) resets the connections in the accept queue: the client saw them
// established, the server will never accept them; they are counted here.
void Server::BeginRestart() {
  if (LastToClose(active_)) {
    stats_->accept_queue_lost += AcceptQueueLength(Active());
  }
  restart_start_ns_ = down_since_ns_ = NowNs();
  retry_ms_ = 0;
  CloseListener();  // the callback, later in this loop turn, binds
  // After close(2): the loops this wakes may bind at once (accept=shared:
  // the last close ends the socket).
  if (restarts_ != nullptr) restarts_->ListenerDown(index_, restart_start_ns_);
}

// One try: socket -> setsockopt -> bind -> listen (never uv_tcp_bind, which
// would force SO_REUSEADDR on), then libuv takes the fd over.
void Server::TryRestart() {
  using Shared = RestartGroup::Shared;
  UniqueFd fd;
  int generation = 0;
  const Shared step = NextSocket(&fd, &generation);
  if (step == Shared::kWait) {
    waiting_for_group_ = true;  // a kRebind wake-up comes
    return;
  }
  if (step == Shared::kGaveUp) {
    On(ListenerEvent::kRetryBoundHit);
    return;
  }
  if (!fd) {
    On(ListenerEvent::kBindFailed);
    return;
  }
  generation_[active_] = generation;
  ListenOrDie(std::move(fd));
  On(ListenerEvent::kBindOk);
}

// The socket this loop listens on next: a new one of its own, or
// (accept=shared) a dup of the round's one socket, which the first loop to
// ask binds. An overlap's new socket is steered to at once. kTaken with *fd
// invalid: a failure, counted (bind, listen, or the dup).
RestartGroup::Shared Server::NextSocket(UniqueFd* fd, int* generation) {
  using Shared = RestartGroup::Shared;
  Shared step = Shared::kBind;
  int error = 0;
  if (SharedListener()) {
    step = restarts_->TakeShared(index_, fd, &error, generation);
  }
  if (step == Shared::kBind) {
    UniqueFd bound = BindNew();
    if (bound && s_.restart_mode == RestartMode::kOverlap) {
      SteerNewConnections(bound.get());
    }
    if (!SharedListener() || !bound) {
      *fd = std::move(bound);
      return Shared::kTaken;
    }
    restarts_->KeepShared(std::move(bound));
    step = restarts_->TakeShared(index_, fd, &error, generation);
  }
  if (step == Shared::kTaken && !*fd) stats_->errors.Add(Step::kSetup, -error);
  return step;
}

bool Server::SharedListener() const {
  return restarts_ != nullptr && s_.accept == AcceptMode::kShared;
}

// Whether closing the slot's listener closes its socket, resetting the
// accept queue: not while another loop holds a dup of a shared one.
bool Server::LastToClose(int slot) {
  return !SharedListener() || restarts_->DropShared(index_, generation_[slot]);
}

// A new listener socket, listening; a failed bind()/listen() is counted.
UniqueFd Server::BindNew() {
  ListenerResult r = MakeListener(NewListenerOptions());
  if (!r.fd) {
    stats_->errors.Add(r.failed_step, r.error);
    Bump(live_->bind_failures);
  }
  return std::move(r.fd);
}

// Hands the new socket to libuv in the Active() slot.
void Server::ListenOrDie(UniqueFd fd) {
  uv_tcp_init(&loop_, Active());
  Active()->data = this;
  int rc = uv_tcp_open(Active(), fd.get());
  if (rc == 0) {
    fd.release();  // libuv owns the fd now
    rc = uv_listen(AsStream(Active()), s_.backlog, OnConnection);
  }
  if (rc != 0) {
    // listen(2) succeeded a moment ago on this very socket.
    spdlog::critical("restarted listener setup failed: {}", UvErrorName(rc));
    std::abort();
  }
}

void Server::RestartDone() {
  const std::uint64_t now = NowNs();
  stats_->restart_downtime.Record(now - restart_start_ns_);
  stats_->server_down_ns += now - down_since_ns_;
  down_since_ns_ = 0;
  if (restarts_ != nullptr) restarts_->ListenerUp(now);
  ++stats_->restarts;
  Bump(live_->restarts);
  stats_->restart_reuseaddr = ListenerOption(Active(), SO_REUSEADDR);
}

// Backoff 1, 2, 4 ... 50 ms, the last try at the bound; past it the server
// stays down until the run ends.
void Server::ScheduleRetry() {
  const std::uint64_t waited = NowNs() - restart_start_ns_;
  const std::uint64_t limit = SecondsToNs(s_.restart_max_wait_s);
  if (waited >= limit) {
    On(ListenerEvent::kRetryBoundHit);
    return;
  }
  retry_ms_ = std::clamp<std::uint64_t>(retry_ms_ * 2, 1, kRestartRetryMaxMs);
  const std::uint64_t left_ms = (limit - waited + 999999) / 1000000;
  uv_timer_start(&restart_timer_, OnRestartTimer, std::min(retry_ms_, left_ms),
                 0);
}

void Server::OnRestartTimer(uv_timer_t* t) {
  static_cast<Server*>(t->data)->TryRestart();
}

// Connections a listener holds completed but not yet accepted: for a
// listening socket the kernel reports its accept queue in tcpi_unacked.
std::uint64_t Server::AcceptQueueLength(uv_tcp_t* listener) {
  uv_os_fd_t fd;
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (uv_fileno(AsHandle(listener), &fd) != 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
    return 0;
  }
  return info.tcpi_unacked;
}

int Server::ListenerOption(uv_tcp_t* listener, int name) {
  uv_os_fd_t fd;
  if (uv_fileno(AsHandle(listener), &fd) != 0) return -1;
  return GetIntSockopt(fd, SOL_SOCKET, name);
}

ListenerOptions Server::NewListenerOptions() const {
  return {s_.family,
          port_,
          s_.new_reuseaddr.value_or(s_.reuseaddr),
          ListenerReuseport(s_),
          s_.backlog,
          true,
          address_};
}

// ------------------------------------------------------ overlap restarts

// The new listener binds beside the old one, which SO_REUSEPORT on both
// allows (any other conflict, e.g. reuseport=0, fails with EADDRINUSE: the
// old listener then keeps serving and the restart counts as failed).
// accept=shared: the first loop of the round binds the new socket, every
// loop in its turn swaps its dup of the old one for a dup of the new one.
void Server::TryOverlap() {
  UniqueFd fd;
  int generation = 0;
  // kWait cannot come (one loop's turn at a time); kGaveUp: the round's
  // bind failed, this loop keeps the old socket too.
  if (NextSocket(&fd, &generation) != RestartGroup::Shared::kTaken || !fd) {
    On(ListenerEvent::kBindFailed);
    return;
  }
  active_ = 1 - active_;  // the old listener stays in the other slot
  generation_[active_] = generation;
  ListenOrDie(std::move(fd));
  On(ListenerEvent::kBindOk);
}

// New SYNs go to the other listeners only, so that the old one's queue can
// drain. Per-loop listeners: loop k's is the group's member k; one loop, or
// one shared socket: the group is the old socket and this one.
void Server::SteerNewConnections(int fd) {
  const bool per_loop = restarts_ != nullptr && !SharedListener();
  const int leaving = per_loop ? index_ : 0;
  const int members = per_loop ? s_.loops : 1;
  if (int err = SteerAwayFrom(fd, s_.family, leaving, members); err != 0) {
    spdlog::debug("overlap: SO_ATTACH_REUSEPORT_CBPF: {}", std::strerror(err));
  }
}

// No moment without a listener: downtime 0. This runs inside the old
// listener's accept loop, which libuv goes on with until its queue is empty;
// the old listener closes once the handshakes it had begun are accepted.
void Server::OverlapDone() {
  stats_->restart_downtime.Record(0);
  ++stats_->restarts;
  Bump(live_->restarts);
  stats_->restart_reuseaddr = ListenerOption(Active(), SO_REUSEADDR);
  retire_looks_ = 0;
  uv_timer_start(&restart_timer_, OnRetireTimer, kRetireWaitMs, 0);
}

// Steered away from, the old listener still gets the handshakes under way:
// while its queue holds some, libuv accepts them during another wait.
void Server::OnRetireTimer(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  if (self->AcceptQueueLength(self->Retired()) > 0 &&
      ++self->retire_looks_ < kRetireLooksMax) {
    // Not 0: libuv 1.44 runs a timer restarted at 0 from its own callback
    // again in the same timer phase, without polling (no accept between).
    uv_timer_start(t, OnRetireTimer, kRetireWaitMs, 0);
    return;
  }
  self->On(ListenerEvent::kRetireDue);
}

// What reached the old listener's queue since libuv last emptied it is
// reset by close(2), as in stop_start: counted in accept_queue_lost.
void Server::CloseRetired() {
  const bool last = LastToClose(1 - active_);
  if (last) stats_->accept_queue_lost += AcceptQueueLength(Retired());
  uv_close(AsHandle(Retired()), OnRetiredClosed);  // close(2) at once
  // The old socket is gone: each listener gets its hash share again.
  if (last) Unsteer(Active());
}

void Server::OnRetiredClosed(uv_handle_t* h) {
  static_cast<Server*>(h->data)->On(ListenerEvent::kRetiredClosed);
}

// --------------------------------------------------------------- rebind

void Server::CloseTimers() {
  uv_close(AsHandle(&drain_), nullptr);
  uv_close(AsHandle(&drain_poll_), nullptr);
  uv_close(AsHandle(&restart_timer_), nullptr);
  conns_.CloseTimers();
  throttle_.Close();
}

void RebindAfterRun(const Scenario& s, std::uint16_t port,
                    std::optional<sockaddr_storage> address, ServerStats* stats,
                    ServerLive* live) {
  if (!s.rebind_after) return;
  RebindResult& rb = stats->rebind;
  rb.wait_ns = AwaitClosedOnTheWire(port, &rb.wait_settled);
  const ListenerOptions options{s.family,
                                port,
                                s.new_reuseaddr.value_or(s.reuseaddr),
                                ListenerReuseport(s),
                                s.backlog,
                                true,
                                address};
  ListenerResult r = MakeListener(options);  // closed with r
  rb.attempted = true;
  rb.bound = r.fd.valid();
  rb.error = r.error;
  rb.failed_step = r.failed_step;
  if (rb.bound) return;
  Bump(live->bind_failures);
  stats->errors.Add(r.failed_step, r.error);
  rb.blockers = Blockers(port);
}

}  // namespace twbench
