// What the engine's loops and the baseline's threads share: how a run is
// split across them, where they run, what CPU they used, the loopback source
// addresses. Private to harness/.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace twbench {

// `part` of `total` split `parts` ways, the remainder to the first parts.
template <typename T>
T ShareOf(T total, int parts, int part) {
  const auto n = static_cast<T>(parts);
  return total / n + (static_cast<T>(part) < total % n ? 1 : 0);
}

// CPUs this process may run on, in order (pin=spread).
std::vector<int> AllowedCpus();

// Pins the calling thread to the slot-th of `cpus`, wrapping; none given:
// leaves it to the scheduler. A failure is logged, the run goes on.
void PinTo(const std::vector<int>& cpus, std::size_t slot);

// The calling thread's CPU time so far (getrusage(RUSAGE_THREAD)): a loop
// thread's, read at its end.
void ThreadCpu(std::uint64_t* user_ns, std::uint64_t* sys_ns);

// 127.0.0.1 .. 127.0.0.K, port 0: the client_addrs=K source addresses on
// loopback; empty for K = 1 (connect() picks the address).
std::vector<sockaddr_storage> LoopbackSources(int k);

}  // namespace twbench
