// The churn engine's server loop: the listener through its lifecycle
// (listener_lifecycle.h: restarts, the end-of-run drain, the rebind), the
// accept throttle for EMFILE and the accepted connections. Private to
// harness/.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <optional>

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
  std::uint64_t Accepted() const;
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
  Server(const Scenario& s, ServerStats* stats, std::uint16_t port,
         std::optional<sockaddr_storage> address, ServerLive* live,
         const ServerGroup* group);

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
  void ListenOrDie(UniqueFd fd);
  void RestartDone();
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
  uv_loop_t loop_{};
  bool loop_ready_ = false;  // uv_loop_init succeeded
  // Two slots: an overlap restart opens the new listener in the free one
  // while the old one still listens (free again in its close callback).
  uv_tcp_t listeners_[2]{};
  int active_ = 0;  // the slot of the listener that serves
  ListenerState state_ = ListenerState::kOpen;
  uv_async_t stop_async_{};
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
  int retire_turns_ = 0;  // overlap: turns the old listener has drained
  AcceptThrottle throttle_;
  ServerConns conns_;
};

}  // namespace twbench
