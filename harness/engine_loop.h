// Pieces both loops of the churn engine use: loop setup and teardown, the
// intrusive list of connections, the read buffer size. Private to harness/.
#pragma once

#include <uv.h>

#include <cstddef>

namespace twbench {

inline constexpr std::size_t kScratchSize = 64 * 1024;

// Runs uv_loop_init after checking that the fds it takes are free (libuv
// 1.44 leaks its epoll fd when a later step of its init fails).
int InitLoop(uv_loop_t* loop);

// Closes the loop; a handle still open is a bug in the engine: logs every
// handle and aborts.
void CloseLoopOrDie(uv_loop_t* loop, const char* which);

// After a failed setup: closes every handle (none heap-allocated yet), runs
// the closes, closes the loop.
void AbandonLoop(uv_loop_t* loop, const char* which);

template <typename H>
uv_handle_t* AsHandle(H* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}
template <typename S>
uv_stream_t* AsStream(S* s) {
  return reinterpret_cast<uv_stream_t*>(s);
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

}  // namespace twbench
