#include "loop_threads.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "spdlog/spdlog.h"
#include "twbench/listener.h"

namespace twbench {

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  }
  return out;
}

void PinTo(const std::vector<int>& cpus, std::size_t slot) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[slot % cpus.size()], &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    spdlog::warn("pin=spread: sched_setaffinity: {}", std::strerror(errno));
  }
}

void ThreadCpu(std::uint64_t* user_ns, std::uint64_t* sys_ns) {
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return;
  const auto ns = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1000000000ull +
           static_cast<std::uint64_t>(tv.tv_usec) * 1000ull;
  };
  *user_ns = ns(ru.ru_utime);
  *sys_ns = ns(ru.ru_stime);
}

std::vector<sockaddr_storage> LoopbackSources(int k) {
  if (k <= 1) return {};
  std::vector<sockaddr_storage> out(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = LoopbackAddress(Family::kIPv4, 0);
    auto* sin = reinterpret_cast<sockaddr_in*>(&out[i]);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK + static_cast<in_addr_t>(i));
  }
  return out;
}

}  // namespace twbench
