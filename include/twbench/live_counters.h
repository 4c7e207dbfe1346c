// Counts the churn engine publishes while it runs, for a sampler on another
// thread (the time series). Every loop has its own block on cache lines of
// its own and is the only writer of it: nothing is shared between loops on
// the hot path. A reader sums the blocks with relaxed loads: a sample is a
// snapshot of monotonic counters, not a consistent cut, and needs no more.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "twbench/scenario.h"

namespace twbench {

// Written by one client loop.
struct alignas(64) ClientLive {
  std::atomic<std::uint64_t> attempted{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> connect_errors{0};  // failures at connect()
  std::atomic<std::uint64_t> errors{0};          // client failures, any step
  // Failed bind() of client sockets (client_bind=range/range_no_port).
  std::atomic<std::uint64_t> client_bind_failures{0};
};

// Written by one server loop.
struct alignas(64) ServerLive {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> bind_failures{0};  // failed bind()/listen()
  std::atomic<std::uint64_t> restarts{0};       // listener restarts done
};

// The blocks summed: what a sample records.
struct LiveTotals {
  std::uint64_t attempted = 0;
  std::uint64_t completed = 0;
  std::uint64_t connect_errors = 0;
  std::uint64_t errors = 0;
  std::uint64_t client_bind_failures = 0;
  std::uint64_t accepted = 0;
  std::uint64_t bind_failures = 0;
  std::uint64_t restarts = 0;
};

// Fixed size (kMaxLoops blocks each side, 32 KiB): nothing to allocate or
// resize while a sampler may be reading.
struct LiveCounters {
  std::array<ClientLive, kMaxLoops> client;
  std::array<ServerLive, kMaxLoops> server;
  // Written once by RunChurn when its listener is bound (0 until then): the
  // run's server port, which a sampler in a shared (host) namespace filters
  // its census by.
  alignas(64) std::atomic<std::uint16_t> server_port{0};

  LiveTotals Sum() const;
};

// One increment by the field's only writer.
inline void Bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
}

}  // namespace twbench
