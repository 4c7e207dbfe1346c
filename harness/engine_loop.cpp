#include "engine_loop.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "spdlog/spdlog.h"
#include "twbench/error_name.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {
// The fds uv_loop_init takes: epoll, the signal pipe, the eventfd.
constexpr int kLoopInitFds = 4;
}  // namespace

int InitLoop(uv_loop_t* loop) {
  // Taken and released at once: setup runs before the loop threads start,
  // so nothing races for them but a sampler's census socket.
  std::vector<UniqueFd> held;
  for (int i = 0; i < kLoopInitFds; ++i) {
    held.emplace_back(eventfd(0, EFD_CLOEXEC));
    if (!held.back()) return -errno;
  }
  held.clear();
  return uv_loop_init(loop);
}

void CloseLoopOrDie(uv_loop_t* loop, const char* which) {
  int rc = uv_loop_close(loop);
  if (rc == 0) return;
  spdlog::critical("{} loop not clean at close: {}", which, UvErrorName(rc));
  uv_print_all_handles(loop, stderr);
  std::abort();
}

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

}  // namespace twbench
