#include "accept_throttle.h"

#include <sys/eventfd.h>

#include <chrono>
#include <thread>

#include "engine_loop.h"

namespace twbench {
namespace {
constexpr std::size_t kSpareFds = 4;
constexpr std::uint64_t kResumePollMs = 1;
}  // namespace

void AcceptThrottle::Init(uv_loop_t* loop) {
  uv_timer_init(loop, &resume_timer_);
  resume_timer_.data = this;
  TakeSpares();
}

// libuv answers most accept EMFILE itself (uv__emfile_trick) and calls back
// only when that fails too; then it retries accept() at once in a loop that
// holds the whole server loop until one succeeds. Freeing the spares lets
// the next one succeed; the pause then lets connections close.
void AcceptThrottle::OnAcceptError(int status) {
  if (status != UV_EMFILE && status != UV_ENFILE) return;
  if (!spares_.empty()) {
    Claim();  // before the fds are free: this process's clients hold back
    spares_.clear();
    pause_next_ = true;
    return;
  }
  // None left: at least do not spin; libuv retries when this returns.
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Leaves the accepted connection with libuv: without uv_accept in the
// callback libuv stops polling the listener until the resume accepts it.
bool AcceptThrottle::PauseIfDue() {
  if (!pause_next_) return false;
  pause_next_ = false;
  ++*pauses_;
  uv_timer_start(&resume_timer_, OnResumeTimer, kResumePollMs, kResumePollMs);
  return true;
}

void AcceptThrottle::OnResumeTimer(uv_timer_t* t) {
  auto* self = static_cast<AcceptThrottle*>(t->data);
  if (!self->TakeSpares()) return;  // still out of fds: stay paused
  uv_timer_stop(t);
  self->Unclaim();
  self->resume_();
}

// Without a listener nothing is accepted: the claim ends with or without
// the spares.
void AcceptThrottle::Cancel() {
  pause_next_ = false;
  uv_timer_stop(&resume_timer_);
  TakeSpares();
  Unclaim();
}

void AcceptThrottle::Close() {
  Unclaim();
  uv_close(AsHandle(&resume_timer_), nullptr);
}

void AcceptThrottle::Claim() {
  if (claiming_ || fd_claims_ == nullptr) return;
  claiming_ = true;
  fd_claims_->fetch_add(1);
}

void AcceptThrottle::Unclaim() {
  if (!claiming_) return;
  claiming_ = false;
  fd_claims_->fetch_sub(1);
}

// Tops the spares up; false when none could be taken.
bool AcceptThrottle::TakeSpares() {
  while (spares_.size() < kSpareFds) {
    UniqueFd fd(eventfd(0, EFD_CLOEXEC));
    if (!fd) break;
    spares_.push_back(std::move(fd));
  }
  return !spares_.empty();
}

}  // namespace twbench
