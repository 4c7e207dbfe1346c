#include "twbench/live_counters.h"

namespace twbench {
namespace {

std::uint64_t Load(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace

// Every block, used or not: unused ones are 0, and a sampler need not know
// how many loops the run has.
LiveTotals LiveCounters::Sum() const {
  LiveTotals t;
  for (const ClientLive& c : client) {
    t.attempted += Load(c.attempted);
    t.completed += Load(c.completed);
    t.connect_errors += Load(c.connect_errors);
    t.errors += Load(c.errors);
    t.client_bind_failures += Load(c.client_bind_failures);
  }
  for (const ServerLive& s : server) {
    t.accepted += Load(s.accepted);
    t.bind_failures += Load(s.bind_failures);
    t.restarts += Load(s.restarts);
  }
  return t;
}

}  // namespace twbench
