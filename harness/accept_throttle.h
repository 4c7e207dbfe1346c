// The server's way out of libuv's accept EMFILE loop: fds kept in reserve,
// freed when accept(2) runs out, and a pause of the accepting until fds are
// free again. Private to harness/.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "twbench/unique_fd.h"

namespace twbench {

class AcceptThrottle {
 public:
  // `resume` runs on the loop when a pause ends: the server accepts the
  // connection libuv kept for it, which makes libuv poll the listener again.
  // `fd_claims` (may be null): raised from the moment the spares are freed
  // until they are taken again; the clients of this process open no socket
  // while it is above 0 (FdClaimed), so the fds that come free are the
  // server's.
  AcceptThrottle(std::uint64_t* pauses, std::atomic<int>* fd_claims,
                 std::function<void()> resume)
      : pauses_(pauses), fd_claims_(fd_claims), resume_(std::move(resume)) {}

  // Takes the spare fds; not having them is no failure.
  void Init(uv_loop_t* loop);
  // accept(2) failed with `status` (already counted by the caller).
  void OnAcceptError(int status);
  // At a connection callback: true when this accept must wait (a pause has
  // begun; `resume` runs when it ends).
  bool PauseIfDue();
  // The listener is closing: libuv closes a pending accepted fd with it, so
  // a pause has nothing left to resume.
  void Cancel();
  void Close();

 private:
  static void OnResumeTimer(uv_timer_t* t);
  bool TakeSpares();
  void Claim();
  void Unclaim();

  std::uint64_t* pauses_;
  std::atomic<int>* fd_claims_;
  bool claiming_ = false;  // this throttle's part of *fd_claims_
  std::function<void()> resume_;
  std::vector<UniqueFd> spares_;
  bool pause_next_ = false;  // the spares were freed: pause at the next accept
  uv_timer_t resume_timer_{};
};

// Whether a server loop of this process is out of fds (`fd_claims` of its
// throttle; null: no server shares the process). Both ends of a run in one
// process share its RLIMIT_NOFILE; on separate hosts each has its own. A
// client that reopens sockets as fast as fds come free takes the very fds the
// server freed to accept with, and holds them in connections the server can
// then never accept, until their deadline. A client slot that finds the claim
// raised waits for its next sweep instead.
inline bool FdClaimed(const std::atomic<int>* fd_claims) {
  return fd_claims != nullptr && fd_claims->load() > 0;
}

}  // namespace twbench
