// The churn engine. The server loop accepts and (as the closer says) closes;
// the client loop keeps `concurrency` connections in flight, each slot
// starting its next connection from the close callback of the last one, as
// libuv's own pound benchmarks do. Each loop runs on its own thread.
#include "twbench/churn.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <bitset>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "spdlog/spdlog.h"
#include "twbench/listener.h"
#include "twbench/netns.h"
#include "twbench/socket_census.h"

namespace twbench {
namespace {

constexpr std::size_t kScratchSize = 64 * 1024;
constexpr std::uint64_t kSweepMs = 10;    // deadline check period
constexpr std::uint64_t kDrainMs = 1000;  // server's wait for last EOFs
// A restart's retries: 1 ms, doubling up to this, until restart_max_wait_s.
constexpr std::uint64_t kRestartRetryMaxMs = 50;
// Fds the server keeps in reserve to get out of libuv's accept EMFILE loop.
constexpr std::size_t kSpareFds = 4;
// The rebind's wait for the run's sockets to finish closing on the wire:
// past a 200 ms RTO and a second one of 400 ms.
constexpr std::uint64_t kRebindWaitMaxMs = 1000;

std::uint64_t NowNs() { return uv_hrtime(); }
std::uint64_t SecondsToNs(double s) {
  return static_cast<std::uint64_t>(s * 1e9);
}

// Runs a loop to completion and checks that nothing was left open: a handle
// still open here is a bug in the engine, not a measurement.
void CloseLoopOrDie(uv_loop_t* loop, const char* which) {
  int rc = uv_loop_close(loop);
  if (rc == 0) return;
  spdlog::critical("{} loop not clean at close: {}", which, uv_err_name(rc));
  uv_print_all_handles(loop, stderr);
  std::abort();
}

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

// libuv 1.44's uv_loop_init leaks its epoll fd when a later step of it fails
// (measured: one fd per EMFILE failure), so the fds it takes (epoll, the
// signal pipe, the eventfd) are first checked free by taking and releasing
// as many. Setup runs before the loop threads start: nothing races for them
// but a sampler's census socket.
constexpr int kLoopInitFds = 4;

int InitLoop(uv_loop_t* loop) {
  std::vector<UniqueFd> held;
  for (int i = 0; i < kLoopInitFds; ++i) {
    held.emplace_back(eventfd(0, EFD_CLOEXEC));
    if (!held.back()) return -errno;
  }
  held.clear();
  return uv_loop_init(loop);
}

// After a failed setup: closes every handle the loop has (none has a callback
// that matters yet, and none is heap-allocated), runs the closes, closes the
// loop.
void AbandonLoop(uv_loop_t* loop, const char* which) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  CloseLoopOrDie(loop, which);
}

// Waits until no socket on the server's port is between close() and
// TIME_WAIT/CLOSED (FIN_WAIT1/2, CLOSING, LAST_ACK, CLOSE_WAIT): the peer's
// last ACK is often processed a few ms after the last close callback, and
// now and then a close takes one minimum RTO (200 ms; measured waits up to
// ~215 ms, in both closers' runs), likely a FIN or ACK that arrived out of
// order across the two CPUs and waits for its retransmission. A bind()
// meanwhile meets LAST_ACK instead of what the run left behind. The census's
// own settle wait (1 ms polls), at most kRebindWaitMaxMs; *settled says
// whether it got there (false also when the census fails, e.g. EMFILE).
// Returns ns waited.
std::uint64_t AwaitClosedOnTheWire(std::uint16_t port, bool* settled) {
  const std::uint64_t start = NowNs();
  *settled = false;
  CensusQuery q;
  q.states = 0;  // nothing to count: only the wait for the closing states
  q.local_port = port;
  try {
    *settled = CountTcpSocketsSettled(
                   q, static_cast<double>(kRebindWaitMaxMs) / 1000.0)
                   .settled;
  } catch (const std::exception& e) {
    spdlog::debug("rebind wait: census failed: {}", e.what());
  }
  return NowNs() - start;
}

// Intrusive doubly-linked list: O(1) unlink of a connection from the middle.
template <typename T>
struct List {
  T* head = nullptr;
  T* tail = nullptr;
  std::size_t size = 0;
  void PushBack(T* n) {
    n->prev = tail;
    n->next = nullptr;
    (tail ? tail->next : head) = n;
    tail = n;
    ++size;
  }
  void Unlink(T* n) {
    (n->prev ? n->prev->next : head) = n->next;
    (n->next ? n->next->prev : tail) = n->prev;
    n->prev = n->next = nullptr;
    --size;
  }
};

// ------------------------------------------------------------------ server

class Server;

struct ServerConn {
  uv_tcp_t tcp;
  uv_write_t write_req;
  Server* server = nullptr;
  std::uint64_t echoed = 0;             // bytes written back
  std::vector<char> pending;            // echo bytes waiting for a uv_write
  std::uint64_t abort_deadline_ns = 0;  // closer=rst: latest time to abort
  bool closing = false;
  ServerConn* prev = nullptr;
  ServerConn* next = nullptr;
};

class Server {
 public:
  Server(const Scenario& s, ChurnStats* stats,
         std::optional<sockaddr_storage> address, LiveCounters* live)
      : s_(s), stats_(stats), address_(address), live_(live) {}

  // Opens the loop and hands the harness-made listener to libuv. Fails when
  // the process is out of fds (EMFILE: the loop's epoll fd and signal pipe,
  // the async's eventfd), naming the call in *what; Abandon() then closes
  // whatever was made.
  int Init(UniqueFd listener, const char** what) {
    *what = "uv_loop_init";
    if (int rc = InitLoop(&loop_); rc != 0) return rc;
    loop_ready_ = true;
    loop_.data = this;
    *what = "uv_async_init";
    if (int rc = uv_async_init(&loop_, &stop_async_, OnStopAsync); rc != 0) {
      return rc;
    }
    uv_timer_init(&loop_, &drain_);
    drain_.data = this;
    uv_timer_init(&loop_, &ack_poll_);
    ack_poll_.data = this;
    uv_timer_init(&loop_, &restart_timer_);
    restart_timer_.data = this;
    uv_timer_init(&loop_, &resume_timer_);
    resume_timer_.data = this;
    // Not having them is no failure (see Accept).
    TakeSpares();
    stop_async_.data = this;
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    *what = "uv_tcp_open";
    if (int rc = uv_tcp_open(&listener_, listener.get()); rc != 0) return rc;
    listener.release();  // libuv owns the fd now
    // What the kernel has on the live socket, not what was asked for.
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&listener_), &fd) == 0) {
      stats_->listener_reuseaddr = GetIntSockopt(fd, SOL_SOCKET, SO_REUSEADDR);
      stats_->listener_reuseport = GetIntSockopt(fd, SOL_SOCKET, SO_REUSEPORT);
    }
    if (!s_.server_accepts) return 0;  // listen(2) done; nobody accepts
    *what = "uv_listen";
    return uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), s_.backlog,
                     OnConnection);
  }
  void Run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // Thread-safe: asks the server loop to close everything and rebind.
  // `client_connected`: connections the client saw established, which the
  // server accepts before it closes its listener.
  // `churn_end_ns`: when the client finished (the end of the server's down
  // time, if it is down then).
  void RequestStop(std::uint64_t client_connected, std::uint64_t churn_end_ns) {
    expected_accepts_.store(client_connected);
    churn_end_ns_.store(churn_end_ns);
    uv_async_send(&stop_async_);
  }
  void CloseLoop() { CloseLoopOrDie(&loop_, "server"); }
  // After a failed Init: closes every handle made so far, then the loop.
  void Abandon() {
    if (loop_ready_) AbandonLoop(&loop_, "server");
  }

 private:
  static void OnConnection(uv_stream_t* listener, int status) {
    static_cast<Server*>(listener->data)->Accept(status);
  }

  void Accept(int status) {
    if (status < 0) {
      // Seldom EMFILE/ENFILE: libuv answers those itself (uv__emfile_trick,
      // src/unix/stream.c) by closing its reserve fd, accepting and closing
      // every pending connection, and calling back only when that fails too
      // (no reserve fd, or the client thread took the freed fd). The dropped
      // connections are counted where the client sees them end, and in
      // ChurnStats::not_accepted.
      stats_->errors.Add(Step::kAccept, status);
      if (status != UV_EMFILE && status != UV_ENFILE) return;
      // libuv retries accept() at once, in a loop that holds the whole
      // server loop, until one succeeds: free the spare fds so the next one
      // does (the client thread may take some first), and pause there
      // (PauseAccepting) to let connections close.
      if (!spares_.empty()) {
        spares_.clear();
        pause_next_ = true;
      } else {
        // None left: at least do not spin; libuv retries when this returns.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return;
    }
    if (pause_next_) {
      PauseAccepting();
      return;
    }
    AcceptOne();
  }

  // Leaves the accepted connection with libuv: without uv_accept in the
  // callback libuv stops polling the listener, and the loop goes on closing
  // connections. A 1 ms timer takes the spare fd back, then resumes.
  void PauseAccepting() {
    pause_next_ = false;
    ++stats_->accept_pauses;
    uv_timer_start(&resume_timer_, OnResumeAccepting, 1, 1);
  }

  static void OnResumeAccepting(uv_timer_t* t) {
    auto* self = static_cast<Server*>(t->data);
    if (!self->TakeSpares()) return;  // still out of fds: stay paused
    uv_timer_stop(t);
    self->AcceptOne();  // takes libuv's pending fd; polling resumes
  }

  // The listener is closing: libuv closes a pending accepted fd with it, so
  // a pause has nothing left to resume (a restart's new listener has none).
  void CancelPause() {
    pause_next_ = false;
    uv_timer_stop(&resume_timer_);
    TakeSpares();
  }

  // Tops the spare fds up to kSpareFds; false when none could be taken.
  bool TakeSpares() {
    while (spares_.size() < kSpareFds) {
      UniqueFd fd(eventfd(0, EFD_CLOEXEC));
      if (!fd) break;
      spares_.push_back(std::move(fd));
    }
    return !spares_.empty();
  }

  void AcceptOne() {
    auto* c = new ServerConn;
    c->server = this;
    uv_tcp_init(&loop_, &c->tcp);
    c->tcp.data = c;
    open_.PushBack(c);
    if (int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&listener_),
                           reinterpret_cast<uv_stream_t*>(&c->tcp));
        rc != 0) {
      stats_->errors.Add(Step::kAccept, rc);
      Close(c, /*rst=*/false);
      return;
    }
    ++stats_->accepted;
    Bump(live_->accepted);
    MaybeCloseListener();
    MaybeRestart();
    // Nothing to echo: the server closer closes at once; a client closer is
    // awaited (EOF) so the server end closes second.
    if (s_.payload == 0 && s_.closer != Closer::kClient) {
      Close(c, s_.closer == Closer::kRst);
      return;
    }
    StartReading(c);
  }

  void StartReading(ServerConn* c) {
    int rc =
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), OnAlloc, OnRead);
    if (rc != 0) {
      stats_->errors.Add(Step::kRead, rc);
      Close(c, false);
    }
  }

  static void OnAlloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<ServerConn*>(h->data)->server;
    *buf = uv_buf_init(self->scratch_.get(), kScratchSize);
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<ServerConn*>(stream->data);
    c->server->Read(c, nread, buf);
  }

  void Read(ServerConn* c, ssize_t nread, const uv_buf_t* buf) {
    if (nread == 0 || c->closing) return;
    if (nread == UV_EOF) {
      Close(c, false);  // the client closed first (or gave up)
      return;
    }
    if (nread < 0) {
      stats_->errors.Add(Step::kRead, static_cast<int>(nread));
      Close(c, false);
      return;
    }
    Echo(c, buf->base, static_cast<std::size_t>(nread));
  }

  // Echoes a chunk: uv_try_write first (loopback send buffers take it whole,
  // no allocation, no epoll change); the rest through uv_write.
  void Echo(ServerConn* c, const char* data, std::size_t len) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), len);
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
      stats_->errors.Add(Step::kWrite, n);
      Close(c, false);
      return;
    }
    std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
    c->echoed += done;
    if (done < len) {
      c->pending.assign(data + done, data + len);
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));  // bound memory
      uv_buf_t rest = uv_buf_init(c->pending.data(), c->pending.size());
      c->write_req.data = c;
      uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &rest, 1,
               OnWrite);
      return;
    }
    AfterEcho(c);
  }

  static void OnWrite(uv_write_t* req, int status) {
    auto* c = static_cast<ServerConn*>(req->data);
    Server* self = c->server;
    if (status == UV_ECANCELED || c->closing) return;
    if (status < 0) {
      self->stats_->errors.Add(Step::kWrite, status);
      self->Close(c, false);
      return;
    }
    c->echoed += c->pending.size();
    c->pending.clear();
    self->AfterEcho(c);
    if (!c->closing) self->StartReading(c);
  }

  void AfterEcho(ServerConn* c) {
    if (c->echoed < s_.payload || s_.closer == Closer::kClient) return;
    if (s_.closer == Closer::kRst && Unacked(c) > 0) {
      // An abort discards the send queue: wait until the peer has every
      // byte of the echo, so the RST ends the exchange instead of cutting it.
      c->abort_deadline_ns = NowNs() + SecondsToNs(s_.connection_timeout_s);
      awaiting_ack_.push_back(c);
      if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&ack_poll_))) {
        uv_timer_start(&ack_poll_, OnAckPoll, 1, 1);
      }
      return;
    }
    Close(c, s_.closer == Closer::kRst);
  }

  // Bytes sent but not yet acknowledged by the peer (SIOCOUTQ).
  static int Unacked(ServerConn* c) {
    uv_os_fd_t fd;
    int outq = 0;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) != 0 ||
        ioctl(fd, SIOCOUTQ, &outq) != 0) {
      return 0;
    }
    return outq;
  }

  static void OnAckPoll(uv_timer_t* t) {
    auto* self = static_cast<Server*>(t->data);
    auto& waiting = self->awaiting_ack_;
    const std::uint64_t now = NowNs();
    std::erase_if(waiting, [self, now](ServerConn* c) {
      if (c->closing) return true;
      if (Unacked(c) > 0 && now < c->abort_deadline_ns) return false;
      self->Close(c, true);
      return true;
    });
    if (waiting.empty()) uv_timer_stop(t);
  }

  void Close(ServerConn* c, bool rst) {
    if (c->closing) return;
    c->closing = true;
    if (rst) {
      // SO_LINGER {1, 0}: close(2) sends RST and the socket skips TIME_WAIT.
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), OnConnClosed);
  }

  static void OnConnClosed(uv_handle_t* h) {
    auto* c = static_cast<ServerConn*>(h->data);
    Server* self = c->server;
    self->open_.Unlink(c);
    std::erase(self->awaiting_ack_, c);  // closed by another path meanwhile
    delete c;
    self->MaybeRebind();
  }

  static void OnStopAsync(uv_async_t* a) {
    static_cast<Server*>(a->data)->Stop();
  }

  // The client is done. Connections it made but the server has not yet
  // accepted are accepted first: closing a listener resets its accept queue,
  // and that RST would kill the client's TIME_WAIT. Then the listener closes;
  // open connections close on their EOF. The drain timer bounds both waits.
  // The rebind follows once every socket on the port is closed.
  void Stop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
    stopping_ = true;
    EndRestarts();
    uv_timer_start(&drain_, OnDrainTimeout, kDrainMs, 0);
    MaybeCloseListener();
  }

  void MaybeCloseListener() {
    if (!stopping_ || final_close_) return;
    if (listener_state_ == ListenerState::kOpen && s_.server_accepts &&
        stats_->accepted < expected_accepts_.load()) {
      return;
    }
    CloseListenerForGood();
  }

  // The end-of-run close; a listener already closed by a restart is done.
  void CloseListenerForGood() {
    final_close_ = true;
    switch (listener_state_) {
      case ListenerState::kOpen:
        listener_state_ = ListenerState::kClosing;
        CancelPause();
        uv_close(reinterpret_cast<uv_handle_t*>(&listener_), OnListenerClosed);
        break;
      case ListenerState::kClosing:
        break;  // OnListenerClosed goes on from here
      case ListenerState::kDown:
        ListenerGone();
        break;
    }
  }

  static void OnDrainTimeout(uv_timer_t* t) {
    auto* self = static_cast<Server*>(t->data);
    if (!self->final_close_) {
      self->stats_->drain_waited_for_accepts = true;
      self->CloseListenerForGood();
    }
    for (ServerConn* c = self->open_.head; c != nullptr; c = c->next) {
      if (c->closing) continue;
      ++self->stats_->server_forced_closes;
      self->Close(c, false);
    }
  }

  static void OnListenerClosed(uv_handle_t* h) {
    auto* self = static_cast<Server*>(h->data);
    self->listener_state_ = ListenerState::kDown;
    // The handle is free again: a restart binds the new socket into it.
    if (self->restart_pending_) {
      self->TryRestart();
      return;
    }
    self->ListenerGone();
  }

  void ListenerGone() {
    listener_closed_ = true;
    MaybeRebind();
  }

  // ---------------------------------------------------------- restarts

  // The K-th accept since the last (re)start closes the listener. close(2)
  // resets the connections in its accept queue: the client saw them
  // established, the server will never accept them; they are counted here.
  void MaybeRestart() {
    if (s_.restart_every <= 0 || stopping_ ||
        ++since_restart_ < s_.restart_every) {
      return;
    }
    since_restart_ = 0;
    stats_->accept_queue_lost += AcceptQueueLength();
    restart_pending_ = true;
    restart_start_ns_ = down_since_ns_ = NowNs();
    retry_ms_ = 0;
    listener_state_ = ListenerState::kClosing;
    // libuv closes the fd here; the callback, later in this loop turn, binds.
    CancelPause();
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), OnListenerClosed);
  }

  // Connections the live listener holds completed but not yet accepted: for
  // a listening socket the kernel reports its accept queue length in
  // tcpi_unacked (tcp_get_info).
  std::uint64_t AcceptQueueLength() {
    uv_os_fd_t fd;
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&listener_), &fd) != 0 ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
      return 0;
    }
    return info.tcpi_unacked;
  }

  ListenerOptions NewListenerOptions() const {
    return {s_.family,
            stats_->server_port,
            s_.new_reuseaddr.value_or(s_.reuseaddr),
            s_.reuseport,
            s_.backlog,
            true,
            address_};
  }

  // One try: socket -> setsockopt -> bind -> listen (never uv_tcp_bind,
  // which would force SO_REUSEADDR on), then libuv takes the fd over.
  void TryRestart() {
    ListenerResult r = MakeListener(NewListenerOptions());
    if (!r.fd) {
      stats_->errors.Add(r.failed_step, r.error);
      Bump(live_->bind_failures);
      ScheduleRetry();
      return;
    }
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    int rc = uv_tcp_open(&listener_, r.fd.get());
    if (rc == 0) {
      r.fd.release();  // libuv owns the fd now
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), s_.backlog,
                     OnConnection);
    }
    if (rc != 0) {
      // listen(2) succeeded a moment ago on this very socket.
      spdlog::critical("restarted listener setup failed: {}", uv_err_name(rc));
      std::abort();
    }
    const std::uint64_t now = NowNs();
    stats_->restart_downtime.Record(now - restart_start_ns_);
    stats_->server_down_ns += now - down_since_ns_;
    down_since_ns_ = 0;
    restart_pending_ = false;
    listener_state_ = ListenerState::kOpen;
    ++stats_->restarts;
    Bump(live_->restarts);
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&listener_), &fd) == 0) {
      stats_->restart_reuseaddr = GetIntSockopt(fd, SOL_SOCKET, SO_REUSEADDR);
    }
  }

  // Backoff 1, 2, 4 ... 50 ms, the last try at the bound. Past it the
  // restart has failed and the server stays down until the run ends.
  void ScheduleRetry() {
    const std::uint64_t waited = NowNs() - restart_start_ns_;
    const std::uint64_t limit = SecondsToNs(s_.restart_max_wait_s);
    if (waited >= limit) {
      restart_pending_ = false;
      ++stats_->restarts_failed;
      return;
    }
    retry_ms_ = std::clamp<std::uint64_t>(retry_ms_ * 2, 1, kRestartRetryMaxMs);
    const std::uint64_t left_ms = (limit - waited + 999999) / 1000000;
    uv_timer_start(&restart_timer_, OnRestartTimer,
                   std::min(retry_ms_, left_ms), 0);
  }

  static void OnRestartTimer(uv_timer_t* t) {
    static_cast<Server*>(t->data)->TryRestart();
  }

  // The client is done: a restart still retrying is cut (failed), and the
  // time the server was down so far is counted. With restarts, connections
  // lost in a closed listener's queue never come: wait only for those the
  // live listener holds now (the client has no connection in flight).
  void EndRestarts() {
    const std::uint64_t end = churn_end_ns_.load();
    if (down_since_ns_ != 0) {
      // 0 for a restart begun by an accept after the client finished.
      if (end > down_since_ns_) stats_->server_down_ns += end - down_since_ns_;
      down_since_ns_ = 0;
    }
    if (restart_pending_) {
      restart_pending_ = false;
      ++stats_->restarts_failed;
      uv_timer_stop(&restart_timer_);
    }
    if (s_.restart_every > 0) {
      const std::uint64_t can_come =
          listener_state_ == ListenerState::kOpen
              ? stats_->accepted + AcceptQueueLength()
              : stats_->accepted;
      expected_accepts_.store(std::min(expected_accepts_.load(), can_come));
    }
  }

  // "Restart the server at once": a fresh socket with the same options on the
  // same address and port, right after the last socket of the old one closed
  // and finished closing on the wire: the question is what TIME_WAIT does to
  // a restart, not whether the peer's last ACK has been processed yet.
  void MaybeRebind() {
    if (!listener_closed_ || open_.size != 0 || rebind_done_) return;
    rebind_done_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&ack_poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&restart_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), nullptr);
    if (!s_.rebind_after) return;
    RebindResult& rb = stats_->rebind;
    rb.wait_ns = AwaitClosedOnTheWire(stats_->server_port, &rb.wait_settled);
    // With the new socket's own SO_REUSEADDR (Scenario::new_reuseaddr).
    ListenerResult r = MakeListener(NewListenerOptions());  // closed with r
    rb.attempted = true;
    rb.bound = r.fd.valid();
    rb.error = r.error;
    rb.failed_step = r.failed_step;
    if (rb.bound) return;
    Bump(live_->bind_failures);
    stats_->errors.Add(r.failed_step, r.error);
    rb.blockers = Blockers(stats_->server_port);
  }

  const Scenario& s_;
  ChurnStats* stats_;
  std::optional<sockaddr_storage> address_;  // null: loopback
  LiveCounters* live_;
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_async_t stop_async_{};
  uv_timer_t drain_{};
  uv_timer_t ack_poll_{};  // closer=rst: polls SIOCOUTQ of awaiting_ack_
  std::vector<ServerConn*> awaiting_ack_;
  List<ServerConn> open_;
  // kOpen: listener_ is a live handle; kClosing: uv_close called, callback
  // pending; kDown: no listener (between restarts, or for good).
  enum class ListenerState { kOpen, kClosing, kDown };
  ListenerState listener_state_ = ListenerState::kOpen;
  bool listener_closed_ = false;  // closed for good, after the churn
  bool final_close_ = false;      // the end-of-run close has begun
  bool stopping_ = false;
  // Restarts (Scenario::restart_every).
  uv_timer_t restart_timer_{};
  int since_restart_ = 0;               // accepts since the last (re)start
  bool restart_pending_ = false;        // closed, not yet listening again
  std::uint64_t restart_start_ns_ = 0;  // the old listener's close
  std::uint64_t down_since_ns_ = 0;     // 0: a listener is up
  std::uint64_t retry_ms_ = 0;          // the last backoff
  std::atomic<std::uint64_t> expected_accepts_{0};
  std::atomic<std::uint64_t> churn_end_ns_{0};
  bool rebind_done_ = false;
  bool loop_ready_ = false;  // uv_loop_init succeeded
  // Accept EMFILE (see Accept): fds kept free to break libuv's retry loop.
  std::vector<UniqueFd> spares_;
  bool pause_next_ = false;  // the spare was freed: pause at the next accept
  uv_timer_t resume_timer_{};
  std::unique_ptr<char[]> scratch_ = std::make_unique<char[]>(kScratchSize);
};

// ------------------------------------------------------------------ client

class Client;

// One slot of concurrency; it runs one connection at a time, for the whole
// run, so its memory is stable and nothing is allocated per connection.
struct ClientConn {
  enum class Phase { kIdle, kConnecting, kWriting, kReading, kClosing };
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  Client* client = nullptr;
  Phase phase = Phase::kIdle;
  bool backoff = false;  // restart on the next sweep, not at once
  std::uint64_t start_ns = 0;
  std::uint64_t received = 0;
  ClientConn* prev = nullptr;
  ClientConn* next = nullptr;
};

class Client {
 public:
  Client(const Scenario& s, ChurnStats* stats, sockaddr_storage server,
         sockaddr_storage local, const std::atomic<bool>* stop,
         LiveCounters* live)
      : s_(s),
        stats_(stats),
        addr_(server),
        local_(local),
        stop_(stop),
        live_(live),
        slots_(static_cast<std::size_t>(s.concurrency)),
        payload_(s.payload, 'x') {
    for (auto& slot : slots_) slot.client = this;
  }

  // Fails when the process is out of fds (EMFILE), naming the call.
  int Init(const char** what) {
    *what = "uv_loop_init";
    if (int rc = InitLoop(&loop_); rc != 0) return rc;
    uv_timer_init(&loop_, &sweep_);
    sweep_.data = this;
    return 0;
  }

  // Runs the whole churn on the calling thread.
  void Run() {
    start_ns_ = NowNs();
    uv_timer_start(&sweep_, OnSweep, kSweepMs, kSweepMs);
    for (auto& slot : slots_) Start(&slot);
    uv_run(&loop_, UV_RUN_DEFAULT);
    stats_->client_ports_distinct = ports_.count();
    if (!stats_->first_connect_failure_s) {
      stats_->completed_before_failure = stats_->completed;
    }
  }
  void CloseLoop() { CloseLoopOrDie(&loop_, "client"); }
  std::uint64_t end_ns() const { return end_ns_; }  // after Run()

 private:
  static Client* Of(void* data) {
    return static_cast<ClientConn*>(data)->client;
  }

  bool Stopping() const {
    return stopping_ || (stop_ != nullptr && stop_->load());
  }

  void Start(ClientConn* c) {
    if (Stopping() || stats_->attempted >= s_.connections) {
      if (Stopping()) stats_->hit_time_limit = true;
      GoIdle(c);
      return;
    }
    ++stats_->attempted;
    Bump(live_->attempted);
    c->start_ns = NowNs();
    c->received = 0;
    c->backoff = false;
    c->phase = ClientConn::Phase::kConnecting;
    uv_tcp_init(&loop_, &c->tcp);
    c->tcp.data = c;
    c->connect_req.data = c;
    in_flight_.PushBack(c);
    Step step = Step::kConnect;
    int rc = OwnSocket() ? OpenOwnSocket(c, &step) : 0;
    if (rc == 0) {
      rc = uv_tcp_connect(&c->connect_req, &c->tcp,
                          reinterpret_cast<const sockaddr*>(&addr_), OnConnect);
    }
    if (rc != 0) {
      // Out of fds or memory: give the system a sweep period to recover
      // instead of spinning on the same failure. A bind() conflict moves on:
      // the slot's next attempt takes the next port.
      c->backoff = rc == UV_EMFILE || rc == UV_ENFILE || rc == UV_ENOBUFS ||
                   rc == UV_ENOMEM;
      Fail(c, step, rc);
    }
  }

  // Whether the harness makes the client socket: uv_tcp_connect makes one
  // with no options, and uv_tcp_bind would force SO_REUSEADDR on.
  bool OwnSocket() const {
    return s_.client_bind != ClientBind::kEphemeral || s_.client_reuseaddr;
  }

  // socket -> setsockopt -> bind, then libuv takes the fd (uv_tcp_open).
  // Returns 0 or a libuv error; *step says where it failed.
  int OpenOwnSocket(ClientConn* c, Step* step) {
    const int domain = s_.family == Family::kIPv4 ? AF_INET : AF_INET6;
    UniqueFd fd(socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return -errno;  // EMFILE: counted at connect, as libuv would
    // Set both ways: "off" must be off on the live socket.
    const int reuse = s_.client_reuseaddr ? 1 : 0;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)) !=
        0) {
      return -errno;
    }
    if (s_.client_bind != ClientBind::kEphemeral) {
      *step = Step::kBind;
      if (int rc = BindLocal(fd.get()); rc != 0) return rc;
      *step = Step::kConnect;
    }
    if (int rc = uv_tcp_open(&c->tcp, fd.get()); rc != 0) return rc;
    fd.release();  // libuv owns it now
    return 0;
  }

  int BindLocal(int fd) {
    sockaddr_storage local = local_;
    if (s_.client_bind == ClientBind::kRangeNoPort) {
      // Port 0 with this option: bind() takes the address only and connect()
      // picks a port free for the whole 4-tuple, as autobind does.
      const int on = 1;
      if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
                     sizeof(on)) != 0) {
        return -errno;
      }
      SetPort(local, 0);
    } else {
      SetPort(local, NextPort());
    }
    if (bind(fd, reinterpret_cast<const sockaddr*>(&local),
             AddressLength(s_.family)) != 0) {
      return -errno;
    }
    return 0;
  }

  // The next port of the client range, wrapping; a failed bind() used its
  // port all the same, so a conflict is not retried on the same port.
  std::uint16_t NextPort() {
    const int span = s_.client_port_max - s_.client_port_min + 1;
    const int port = s_.client_port_min + next_port_;
    next_port_ = (next_port_ + 1) % span;
    return static_cast<std::uint16_t>(port);
  }

  static void OnConnect(uv_connect_t* req, int status) {
    auto* c = static_cast<ClientConn*>(req->data);
    c->client->Connected(c, status);
  }

  void Connected(ClientConn* c, int status) {
    if (c->phase != ClientConn::Phase::kConnecting) return;  // cancelled
    if (status < 0) {
      // An RST can beat the connect callback: the server accepted and
      // aborted before this loop saw the handshake finish.
      if (status == UV_ECONNRESET && s_.closer == Closer::kRst) {
        ++stats_->connected;
        ++stats_->resets;
        Complete(c);
        return;
      }
      // Refused: the server is down (a listener restart). Retry from the
      // next sweep, as a client with a retry delay does, rather than spend
      // the budget in a tight loop of refusals.
      c->backoff = status == UV_ECONNREFUSED;
      Fail(c, Step::kConnect, status);
      return;
    }
    ++stats_->connected;
    NotePort(c);
    if (stats_->client_reuseaddr < 0) {
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
        stats_->client_reuseaddr = GetIntSockopt(fd, SOL_SOCKET, SO_REUSEADDR);
      }
    }
    if (s_.payload == 0 && s_.closer == Closer::kClient) {
      Complete(c);
      return;
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    if (int rc = uv_read_start(stream, OnAlloc, OnRead); rc != 0) {
      Fail(c, Step::kRead, rc);
      return;
    }
    c->phase = ClientConn::Phase::kReading;
    if (s_.payload > 0) Send(c);
  }

  void Send(ClientConn* c) {
    // Every slot sends the same read-only bytes: no copy per connection.
    uv_buf_t b = uv_buf_init(payload_.data(), payload_.size());
    c->write_req.data = c;
    c->phase = ClientConn::Phase::kWriting;
    int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp),
                      &b, 1, OnWrite);
    if (rc != 0) Fail(c, Step::kWrite, rc);
  }

  static void OnWrite(uv_write_t* req, int status) {
    auto* c = static_cast<ClientConn*>(req->data);
    if (status == UV_ECANCELED || c->phase == ClientConn::Phase::kClosing) {
      return;
    }
    if (status < 0) {
      c->client->Fail(c, Step::kWrite, status);
      return;
    }
    c->phase = ClientConn::Phase::kReading;
  }

  void NotePort(ClientConn* c) {
    sockaddr_storage ss{};
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) ==
        0) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      ports_.set(ntohs(sin->sin_port));  // same offset in sockaddr_in6
    }
  }

  static void OnAlloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    Client* self = Of(h->data);
    *buf = uv_buf_init(self->scratch_.get(), kScratchSize);
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<ClientConn*>(stream->data);
    c->client->Read(c, nread);
  }

  void Read(ClientConn* c, ssize_t nread) {
    if (nread == 0 || c->phase == ClientConn::Phase::kClosing) return;
    const bool echoed = c->received >= s_.payload;
    if (nread > 0) {
      c->received += static_cast<std::uint64_t>(nread);
      if (c->received >= s_.payload && s_.closer == Closer::kClient) {
        Complete(c);
      }
      return;
    }
    if (nread == UV_EOF && echoed && s_.closer == Closer::kServer) {
      Complete(c);
    } else if (nread == UV_ECONNRESET && echoed && s_.closer == Closer::kRst) {
      ++stats_->resets;
      Complete(c);
    } else if (nread == UV_EOF && echoed && s_.closer == Closer::kRst) {
      Complete(c);  // the RST raced a FIN-less close; it ended all the same
    } else {
      Fail(c, Step::kRead, static_cast<int>(nread));
    }
  }

  void Complete(ClientConn* c) {
    ++stats_->completed;
    Bump(live_->completed);
    stats_->latency.Record(NowNs() - c->start_ns);
    Close(c);
  }

  void Fail(ClientConn* c, Step step, int uv_err) {
    stats_->errors.Add(step, uv_err);
    Bump(live_->errors);
    if (step == Step::kConnect) Bump(live_->connect_errors);
    if (step == Step::kBind) {
      ++stats_->client_bind_failures;
      if (uv_err == UV_EADDRINUSE) ++stats_->client_bind_eaddrinuse;
      Bump(live_->client_bind_failures);
    }
    if ((step == Step::kConnect || step == Step::kBind) &&
        !stats_->first_connect_failure_s) {
      // When the range ran dry: the exhaustion columns split the run here.
      stats_->first_connect_failure_s =
          static_cast<double>(NowNs() - start_ns_) / 1e9;
      stats_->completed_before_failure = stats_->completed;
    }
    Close(c);
  }

  void Close(ClientConn* c) {
    if (c->phase == ClientConn::Phase::kClosing) return;
    c->phase = ClientConn::Phase::kClosing;
    in_flight_.Unlink(c);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), OnClosed);
  }

  // The churn is driven from here: a slot's next connection starts when its
  // last one is fully closed.
  static void OnClosed(uv_handle_t* h) {
    auto* c = static_cast<ClientConn*>(h->data);
    c->phase = ClientConn::Phase::kIdle;
    if (c->backoff && !c->client->Stopping()) return;  // the sweep restarts it
    c->client->Start(c);
  }

  void GoIdle(ClientConn* c) {
    c->phase = ClientConn::Phase::kIdle;
    c->backoff = false;
    if (++idle_ < slots_.size()) return;
    end_ns_ = NowNs();
    stats_->seconds = static_cast<double>(end_ns_ - start_ns_) / 1e9;
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  }

  static void OnSweep(uv_timer_t* t) { static_cast<Client*>(t->data)->Sweep(); }

  // Per-connection deadlines (the in-flight list is in start order, so only
  // its head can be overdue first), the run's time limit, slots in backoff.
  void Sweep() {
    const std::uint64_t now = NowNs();
    if (!stopping_ && (now - start_ns_ >= SecondsToNs(s_.time_limit_s) ||
                       (stop_ != nullptr && stop_->load()))) {
      stopping_ = true;
      stats_->hit_time_limit = true;
      stats_->unfinished += in_flight_.size;
      while (in_flight_.head != nullptr) Close(in_flight_.head);
    }
    const std::uint64_t timeout = SecondsToNs(s_.connection_timeout_s);
    while (in_flight_.head != nullptr &&
           now - in_flight_.head->start_ns >= timeout) {
      ClientConn* c = in_flight_.head;
      Fail(c,
           c->phase == ClientConn::Phase::kConnecting ? Step::kConnect
           : c->phase == ClientConn::Phase::kWriting  ? Step::kWrite
                                                      : Step::kRead,
           UV_ETIMEDOUT);
    }
    for (auto& slot : slots_) {
      if (slot.backoff && slot.phase == ClientConn::Phase::kIdle) Start(&slot);
    }
  }

  const Scenario& s_;
  ChurnStats* stats_;
  sockaddr_storage addr_;
  sockaddr_storage local_;  // client_bind=range/range_no_port binds here
  int next_port_ = 0;       // client_bind=range: offset of the next port
  const std::atomic<bool>* stop_;
  LiveCounters* live_;
  std::vector<ClientConn> slots_;
  std::string payload_;
  uv_loop_t loop_{};
  uv_timer_t sweep_{};
  List<ClientConn> in_flight_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::uint64_t start_ns_ = 0;
  std::uint64_t end_ns_ = 0;
  std::bitset<65536> ports_;
  std::unique_ptr<char[]> scratch_ = std::make_unique<char[]>(kScratchSize);
};

// Moves the calling thread into `ns` (when given). The namespaces are the
// run's own, made a moment ago: failing to enter one is a broken invariant.
void EnterOrDie(const NetNamespace* ns, const char* which) {
  std::string why;
  if (ns != nullptr && !Enter(*ns, &why)) {
    spdlog::critical("{} thread cannot enter its namespace: {}", which, why);
    std::abort();
  }
}

void SetupFailed(ChurnStats* stats, const char* which, const char* what,
                 int rc) {
  stats->errors.Add(Step::kSetup, rc);
  stats->fatal =
      std::string(which) + " loop setup: " + what + ": " + uv_err_name(rc);
}

}  // namespace

ChurnStats RunChurn(const Scenario& s, const std::atomic<bool>* stop,
                    const Placement& placement, LiveCounters* live) {
  ChurnStats stats;
  // Without a sampler the counts still go somewhere: one branch-free
  // increment per event either way.
  LiveCounters unobserved;
  if (live == nullptr) live = &unobserved;
  if (std::string why = Validate(s); !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  // A socket belongs to the namespace it was made in: the listener is made
  // by a thread of the server's namespace.
  const ListenerOptions options{s.family,
                                s.port,
                                s.reuseaddr,
                                s.reuseport,
                                s.backlog,
                                true,
                                placement.server_address};
  ListenerResult l;
  std::thread([&] {
    EnterOrDie(placement.server, "listener");
    l = MakeListener(options);
  }).join();
  if (!l.fd) {
    RecordListenerFailure(l, &stats);
    return stats;
  }
  stats.server_port = l.port;
  live->server_port.store(l.port, std::memory_order_relaxed);
  Server server(s, &stats, placement.server_address, live);
  ChurnStats client_stats;
  sockaddr_storage server_address =
      placement.server_address.value_or(LoopbackAddress(s.family, l.port));
  SetPort(server_address, l.port);
  const sockaddr_storage client_address =
      placement.client_address.value_or(LoopbackAddress(s.family, 0));
  Client client(s, &client_stats, server_address, client_address, stop, live);
  // A loop that cannot be set up (out of fds) ends the run before it
  // starts: fatal, counted by errno name, every handle closed.
  const char* what = "";
  if (int rc = server.Init(std::move(l.fd), &what); rc != 0) {
    server.Abandon();
    SetupFailed(&stats, "server", what, rc);
    return stats;
  }
  if (int rc = client.Init(&what); rc != 0) {
    server.Abandon();
    SetupFailed(&stats, "client", what, rc);
    return stats;
  }
  std::thread server_thread([&server, &placement] {
    EnterOrDie(placement.server, "server");
    server.Run();
  });
  std::thread client_thread([&client, &placement] {
    EnterOrDie(placement.client, "client");
    client.Run();
  });
  client_thread.join();
  server.RequestStop(client_stats.connected, client.end_ns());
  server_thread.join();
  client.CloseLoop();
  server.CloseLoop();

  stats.attempted = client_stats.attempted;
  stats.connected = client_stats.connected;
  stats.completed = client_stats.completed;
  stats.resets = client_stats.resets;
  stats.unfinished = client_stats.unfinished;
  stats.seconds = client_stats.seconds;
  stats.hit_time_limit = client_stats.hit_time_limit;
  stats.latency = std::move(client_stats.latency);
  stats.client_ports_distinct = client_stats.client_ports_distinct;
  stats.errors.Merge(client_stats.errors);
  stats.client_bind_failures = client_stats.client_bind_failures;
  stats.client_bind_eaddrinuse = client_stats.client_bind_eaddrinuse;
  stats.first_connect_failure_s = client_stats.first_connect_failure_s;
  stats.completed_before_failure = client_stats.completed_before_failure;
  stats.client_reuseaddr = client_stats.client_reuseaddr;
  const std::uint64_t accounted = stats.accepted + stats.accept_queue_lost;
  stats.not_accepted =
      stats.connected > accounted ? stats.connected - accounted : 0;
  return stats;
}

}  // namespace twbench
