// The churn engine's server loop: the listener through its lifecycle
// (listener_lifecycle.h: restarts, the end-of-run drain, the rebind), the
// accept throttle for EMFILE and the accepted connections. Private to
// harness/.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "accept_throttle.h"
#include "server_conns.h"
#include "twbench/churn_stats.h"
#include "twbench/listener.h"
#include "twbench/listener_lifecycle.h"
#include "twbench/live_counters.h"
#include "twbench/scenario.h"
#include "twbench/unique_fd.h"

namespace twbench {

// The server loops of one run, for the end-of-run drain: connections the
// client saw established may sit in any loop's accept queue, so a loop
// drains until all loops together have accepted them. Read only while
// draining (ServerLive::accepted, relaxed): nothing shared on the hot path.
struct ServerGroup {
  const LiveCounters* live = nullptr;
  int loops = 1;
  // The loops' accept throttles raise it while out of fds (FdClaimed).
  std::atomic<int>* fd_claims = nullptr;
  std::uint64_t Accepted() const;
};

// Listener restarts with several server loops: a round restarts every loop's
// listener, all at once (stop_start) or one loop after the other (overlap).
// accept=shared: the loops listen on dups of one socket, and a round
// replaces that socket for all. Touched only at restart events and at the stop,
// under one mutex: nothing shared per connection. Each loop registers a
// uv_async_t; a sender holds the mutex and wakes only loops still alive, and a
// loop leaves (under the mutex) before it closes its async, so no uv_async_send
// meets a closed handle.
class RestartGroup {
 public:
  RestartGroup(int loops, bool overlap, bool shared);

  // At the loop's Init, on the loop's thread, before any thread runs.
  void Join(int loop, uv_async_t* async);
  // Starts a round unless one is running: stop_start wakes every loop,
  // overlap wakes the first. Any thread of the group.
  void StartRound();
  // What a wake-up asked of the loop (an async send may wake it for
  // nothing): in the loop's async callback.
  enum class Request : char { kNone, kRestart, kRebind };
  Request TakeRequest(int loop);
  // The loop's part of the round is over (restarted, failed, or could not
  // begin): stop_start counts it off; overlap wakes the next loop.
  void Done(int loop);
  // At the loop's stop, before it closes its async: no more wake-ups; its
  // part of a running round is over.
  void Leave(int loop);

  // stop_start: a round restarts the server as a whole. Every loop of the
  // round closes its listener (ListenerDown), and binds a new one only once
  // all have closed (MayRebind; the last to close wakes those waiting with
  // kRebind). The group's down time is the time with no listener up in any
  // loop, until the client finished (ClientEnded, called once, before any
  // loop's stop).
  void ListenerDown(int loop, std::uint64_t now_ns);
  bool MayRebind(int loop);
  void ListenerUp(std::uint64_t now_ns);
  void ClientEnded(std::uint64_t end_ns);
  std::uint64_t down_ns() const;

  // accept=shared: a round's one new socket. The first loop of the round to
  // ask binds it (kBind, then KeepShared), a stop_start loop asking
  // meanwhile waits for a kRebind wake-up (kWait); every loop then takes a
  // dup (kTaken: *fd, invalid when the dup failed, *error its errno;
  // *generation names the socket). kGaveUp: the round's bind gave up. The
  // group holds the socket until the round ends.
  enum class Shared : char { kBind, kWait, kTaken, kGaveUp };
  Shared TakeShared(int loop, UniqueFd* fd, int* error, int* generation);
  void KeepShared(UniqueFd fd);
  // The loop is about to close its dup of socket `generation`: true when no
  // other loop holds one, so that this close resets the socket's queue.
  bool DropShared(int loop, int generation);

  // The end-of-run drain: connections lost in a closed listener's queue
  // never come. Each loop, at its stop, publishes how many it can accept in
  // all (its accepts plus its live listener's queue); once all have, the
  // group's total bounds the accepts the drain waits for. accept=shared:
  // every loop reads the one queue, counted once (the largest reading: the
  // client is done, the queue only shrinks).
  void PublishCanCome(std::uint64_t accepted, std::uint64_t queued);
  std::uint64_t CanCome() const;  // UINT64_MAX until every loop published

 private:
  void WakeLocked(int loop, Request request);
  void EndTurnLocked(int loop);
  bool AllClosedLocked() const;
  void WakeClosedLocked(int except);
  void EndRoundLocked();
  void SharedTurnOverLocked(int loop);

  mutable std::mutex mu_;
  const bool overlap_;
  const bool shared_;
  std::vector<uv_async_t*> asyncs_;
  std::vector<char> alive_;
  std::vector<Request> requested_;
  std::vector<char> in_round_;  // in the round (overlap: its turn), not done
  std::vector<char> closed_;    // stop_start: closed its listener this round
  bool round_running_ = false;
  int pending_ = 0;  // stop_start: loops whose part of the round runs
  int up_;           // loops with a listener up
  std::uint64_t down_since_ns_ = 0;
  std::uint64_t down_ns_ = 0;
  bool client_ended_ = false;
  int published_ = 0;
  std::uint64_t can_come_ = 0;
  std::uint64_t queued_ = 0;
  // accept=shared.
  UniqueFd new_socket_;        // the round's, until the round ends
  int generation_ = 0;         // of the newest socket
  std::vector<int> held_;      // per loop: the socket it serves on
  int binder_ = -1;            // the loop binding the round's socket
  bool bind_gave_up_ = false;  // its retries hit the bound
};

// After the run, with every loop's listener closed and its connections gone:
// a fresh socket with the same options (or Scenario::new_reuseaddr) on the
// same address and port ("restart the server at once"), once the run's
// sockets on the port finished closing on the wire: the question is what
// TIME_WAIT does to a restart, not whether the peer's last ACK has been
// processed yet. Call on a thread of the server's namespace.
void RebindAfterRun(const Scenario& s, std::uint16_t port,
                    std::optional<sockaddr_storage> address, ServerStats* stats,
                    ServerLive* live);

class Server {
 public:
  // `restarts`: the group of the run's loops when several restart
  // (loops > 1, restart_every > 0); null otherwise. `index`: this loop's.
  Server(const Scenario& s, ServerStats* stats, std::uint16_t port,
         std::optional<sockaddr_storage> address, ServerLive* live,
         const ServerGroup* group, RestartGroup* restarts = nullptr,
         int index = 0);

  // Opens the loop and hands the harness-made listener to libuv. Fails when
  // the process is out of fds, naming the call in *what; Abandon() then
  // closes whatever was made.
  int Init(UniqueFd listener, const char** what);
  void Run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // Thread-safe: asks the server loop to drain, close and rebind.
  // `client_connected`: connections the client saw established, which the
  // server accepts before it closes its listener. `churn_end_ns`: when the
  // client finished (the end of the server's down time, if it is down).
  void RequestStop(std::uint64_t client_connected, std::uint64_t churn_end_ns);
  void CloseLoop();
  void Abandon();

 private:
  static void OnConnection(uv_stream_t* listener, int status);
  static void OnStopAsync(uv_async_t* a);
  static void OnRestartAsync(uv_async_t* a);
  static void OnDrainTimeout(uv_timer_t* t);
  static void OnDrainPoll(uv_timer_t* t);
  static void OnListenerClosed(uv_handle_t* h);
  static void OnRestartTimer(uv_timer_t* t);
  static void OnRetireTimer(uv_timer_t* t);
  static void OnRetiredClosed(uv_handle_t* h);

  // The state machine: the transition, then the new state's actions.
  bool On(ListenerEvent event);  // false: the event means nothing now
  void Enter(ListenerState from, ListenerEvent event);

  void Accept(uv_stream_t* listener, int status);
  void AcceptOne(uv_stream_t* listener);
  void AfterAccept();
  void CountTowardsRestart();
  void Stop();
  bool AllAccepted() const;
  void EndDownTime();
  void LimitExpectedAccepts();
  void CloseListener();
  void BeginRestart();
  void TryRestart();
  UniqueFd BindNew();
  RestartGroup::Shared NextSocket(UniqueFd* fd, int* generation);
  bool SharedListener() const;
  bool LastToClose(int slot);
  void SteerNewConnections(int fd);
  void ListenOrDie(UniqueFd fd);
  void RestartDone();
  void RoundPartDone();
  void ScheduleRetry();
  void TryOverlap();
  void OverlapDone();
  void CloseRetired();
  void CloseTimers();
  uv_tcp_t* Active() { return &listeners_[active_]; }
  uv_tcp_t* Retired() { return &listeners_[1 - active_]; }
  std::uint64_t AcceptQueueLength(uv_tcp_t* listener);
  int ListenerOption(uv_tcp_t* listener, int name);
  ListenerOptions NewListenerOptions() const;

  const Scenario& s_;
  ServerStats* stats_;
  std::uint16_t port_;
  std::optional<sockaddr_storage> address_;  // null: loopback
  ServerLive* live_;
  const ServerGroup* group_;
  RestartGroup* restarts_;  // null: this loop restarts on its own, if at all
  int index_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;  // uv_loop_init succeeded
  // Two slots: an overlap restart opens the new listener in the free one
  // while the old one still listens (free again in its close callback).
  uv_tcp_t listeners_[2]{};
  int active_ = 0;       // the slot of the listener that serves
  int generation_[2]{};  // accept=shared: the group's socket in each slot
  ListenerState state_ = ListenerState::kOpen;
  uv_async_t stop_async_{};
  uv_async_t restart_async_{};  // restarts_: the group's wake-up
  uv_timer_t drain_{};
  uv_timer_t drain_poll_{};  // several loops: checks the group's accepts
  std::atomic<std::uint64_t> expected_accepts_{0};
  std::atomic<std::uint64_t> churn_end_ns_{0};
  // Restarts (Scenario::restart_every).
  uv_timer_t restart_timer_{};  // stop_start: retries; overlap: the retire
  int since_restart_ = 0;       // accepts since the last (re)start
  std::uint64_t restart_start_ns_ = 0;  // the old listener's close
  std::uint64_t down_since_ns_ = 0;     // 0: a listener is up
  std::uint64_t retry_ms_ = 0;          // the last backoff
  int retire_looks_ = 0;  // overlap: looks at the old listener's queue
  bool waiting_for_group_ = false;  // closed; the other loops not yet
  AcceptThrottle throttle_;
  ServerConns conns_;
};

}  // namespace twbench
