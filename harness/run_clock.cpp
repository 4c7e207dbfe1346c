#include "twbench/run_clock.h"

#include <cerrno>
#include <cstdlib>

namespace twbench {

std::uint64_t SecondsToNs(double s) {
  return static_cast<std::uint64_t>(s * 1e9);
}

bool ShouldBackOff(int err) {
  switch (std::abs(err)) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

}  // namespace twbench
