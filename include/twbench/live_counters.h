// Counts the churn engine publishes while it runs, for a sampler on another
// thread (the time series). Each field has one writer (the client or the
// server loop) and is read with relaxed loads: a sample is a snapshot of
// monotonic counters, not a consistent cut, and needs no more.
#pragma once

#include <atomic>
#include <cstdint>

namespace twbench {

struct LiveCounters {
  // Written by the client loop.
  alignas(64) std::atomic<std::uint64_t> attempted{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> connect_errors{0};  // failures at connect()
  std::atomic<std::uint64_t> errors{0};          // client failures, any step
  // Failed bind() of client sockets (client_bind=range/range_no_port).
  std::atomic<std::uint64_t> client_bind_failures{0};
  // Written by the server loop; on its own cache line so the two loops do
  // not bounce one line between the cores.
  alignas(64) std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> bind_failures{0};  // failed bind()/listen()
  std::atomic<std::uint64_t> restarts{0};       // listener restarts done
  // Written once by RunChurn when its listener is bound (0 until then): the
  // run's server port, which a sampler in a shared (host) namespace filters
  // its census by.
  alignas(64) std::atomic<std::uint16_t> server_port{0};
};

// One increment by the field's only writer.
inline void Bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
}

}  // namespace twbench
