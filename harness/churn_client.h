// The churn engine's client loop: `concurrency` slots, each running one
// connection at a time and starting the next from the close callback of the
// last, as libuv's own pound benchmarks do. Private to harness/.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine_loop.h"
#include "twbench/churn_stats.h"
#include "twbench/live_counters.h"
#include "twbench/run_clock.h"
#include "twbench/scenario.h"

namespace twbench {

class Client;

// One slot of concurrency: its memory is stable for the whole run, nothing
// is allocated per connection.
struct ClientConn {
  enum class Phase { kIdle, kConnecting, kWriting, kReading, kClosing };
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  Client* client = nullptr;
  Phase phase = Phase::kIdle;
  bool backoff = false;      // restart on the next sweep, not at once
  std::uint32_t source = 0;  // index of the source address it bound
  std::uint64_t start_ns = 0;
  std::uint64_t received = 0;
  ClientConn* prev = nullptr;
  ClientConn* next = nullptr;
};

// One client loop's part of the run.
struct ClientShare {
  int concurrency = 1;            // its slots
  std::uint64_t connections = 0;  // its budget of attempts
  // Source addresses to bind in turn (client_addrs > 1, ports left to
  // connect() with IP_BIND_ADDRESS_NO_PORT), from `first_source` on; empty:
  // `local` alone.
  std::vector<sockaddr_storage> sources;
  std::size_t first_source = 0;
};

class Client {
 public:
  Client(const Scenario& s, ClientShare share, ClientStats* stats,
         sockaddr_storage server, sockaddr_storage local,
         const std::atomic<bool>* stop, ClientLive* live,
         const std::atomic<int>* server_fd_claims = nullptr);

  // Fails when the process is out of fds (EMFILE), naming the call.
  int Init(const char** what);
  // Runs the whole churn on the calling thread.
  void Run();
  void CloseLoop() { CloseLoopOrDie(&loop_, "client"); }
  // After a failed setup elsewhere: closes what Init made.
  void Abandon() {
    if (loop_ready_) AbandonLoop(&loop_, "client");
  }
  std::uint64_t end_ns() const { return end_ns_; }  // after Run()

 private:
  static void OnConnect(uv_connect_t* req, int status);
  static void OnWrite(uv_write_t* req, int status);
  static void OnAlloc(uv_handle_t* h, std::size_t, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*);
  static void OnClosed(uv_handle_t* h);
  static void OnSweep(uv_timer_t* t);

  void Start(ClientConn* c);
  int Connect(ClientConn* c, Step* step);
  bool OwnSocket() const;
  int OpenOwnSocket(ClientConn* c, Step* step);
  int BindLocal(ClientConn* c, int fd);
  std::uint16_t NextPort();
  void Connected(ClientConn* c, int status);
  void ConnectFailed(ClientConn* c, int status);
  void Send(ClientConn* c);
  void NotePort(ClientConn* c);
  void Read(ClientConn* c, ssize_t nread);
  void ReadEnded(ClientConn* c, ssize_t nread);
  void Complete(ClientConn* c);
  void Fail(ClientConn* c, Step step, int uv_err);
  void Close(ClientConn* c);
  void GoIdle(ClientConn* c);
  void Sweep();
  void CutInFlight();
  void FailOverdue(std::uint64_t now);

  const Scenario& s_;
  ClientShare share_;
  ClientStats* stats_;
  sockaddr_storage addr_;
  sockaddr_storage local_;       // client_bind=range/range_no_port binds here
  int next_port_ = 0;            // client_bind=range: offset of the next port
  std::size_t next_source_ = 0;  // into share_.sources
  RunDeadline deadline_;
  ClientLive* live_;
  const std::atomic<int>* server_fd_claims_;  // FdClaimed; null: none here
  std::vector<ClientConn> slots_;
  std::string payload_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;  // uv_loop_init succeeded
  uv_timer_t sweep_{};
  List<ClientConn> in_flight_;
  std::size_t idle_ = 0;
  std::uint64_t end_ns_ = 0;
  std::unique_ptr<char[]> scratch_ = std::make_unique<char[]>(kScratchSize);
};

}  // namespace twbench
