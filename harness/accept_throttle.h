// The server's way out of libuv's accept EMFILE loop: fds kept in reserve,
// freed when accept(2) runs out, and a pause of the accepting until fds are
// free again. Private to harness/.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "twbench/unique_fd.h"

namespace twbench {

class AcceptThrottle {
 public:
  // `resume` runs on the loop when a pause ends: the server accepts the
  // connection libuv kept for it, which makes libuv poll the listener again.
  AcceptThrottle(std::uint64_t* pauses, std::function<void()> resume)
      : pauses_(pauses), resume_(std::move(resume)) {}

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

  std::uint64_t* pauses_;
  std::function<void()> resume_;
  std::vector<UniqueFd> spares_;
  bool pause_next_ = false;  // the spares were freed: pause at the next accept
  uv_timer_t resume_timer_{};
};

}  // namespace twbench
