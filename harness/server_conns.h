// The server's accepted connections: echo as the scenario says, then close
// (a FIN, or an RST once the peer has acknowledged the echo). Private to
// harness/.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine_loop.h"
#include "twbench/churn_stats.h"
#include "twbench/live_counters.h"
#include "twbench/scenario.h"

namespace twbench {

class ServerConns;

struct ServerConn {
  uv_tcp_t tcp;
  uv_write_t write_req;
  ServerConns* owner = nullptr;
  std::uint64_t echoed = 0;             // bytes written back
  std::vector<char> pending;            // echo bytes waiting for a uv_write
  std::uint64_t abort_deadline_ns = 0;  // closer=rst: latest time to abort
  bool closing = false;
  ServerConn* prev = nullptr;
  ServerConn* next = nullptr;
};

class ServerConns {
 public:
  // `on_closed` runs after each connection's close callback freed it.
  ServerConns(const Scenario& s, ServerStats* stats, ServerLive* live,
              std::function<void()> on_closed)
      : s_(s), stats_(stats), live_(live), on_closed_(std::move(on_closed)) {}

  void Init(uv_loop_t* loop);
  // Takes the connection libuv holds for `listener` and counts it; nullptr
  // when uv_accept failed (counted; nothing to serve).
  ServerConn* Accept(uv_stream_t* listener);
  // Closes at once, or reads and echoes first, as closer and payload say.
  void Serve(ServerConn* c);
  // The drain's bound struck: closes every connection still open, counted in
  // server_forced_closes.
  void ForceCloseAll();
  std::size_t open() const { return open_.size; }
  void CloseTimers();

 private:
  static void OnAlloc(uv_handle_t* h, std::size_t, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnAckPoll(uv_timer_t* t);
  static void OnClosed(uv_handle_t* h);
  void StartReading(ServerConn* c);
  void Read(ServerConn* c, ssize_t nread, const uv_buf_t* buf);
  void Echo(ServerConn* c, const char* data, std::size_t len);
  void AfterEcho(ServerConn* c);
  void AwaitAck(ServerConn* c);
  void Close(ServerConn* c, bool rst);

  const Scenario& s_;
  ServerStats* stats_;
  ServerLive* live_;
  std::function<void()> on_closed_;
  uv_loop_t* loop_ = nullptr;
  List<ServerConn> open_;
  uv_timer_t ack_poll_{};  // closer=rst: polls SIOCOUTQ of awaiting_ack_
  std::vector<ServerConn*> awaiting_ack_;
  std::unique_ptr<char[]> scratch_ = std::make_unique<char[]>(kScratchSize);
};

}  // namespace twbench
