// What tests that need a network namespace of their own share: a skip with
// the reason when the process may not make one, and a runner that fails the
// test when making one fails after all.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

#include "twbench/netns.h"
#include "twbench/sysctl.h"

#define SKIP_WITHOUT_NETNS()                           \
  if (!::twbench::CanCreateNetns())                    \
  GTEST_SKIP() << "cannot create network namespaces (" \
               << ::twbench::WhyNoNetns()              \
               << "); the test needs one of its own (run as root)"

// tcp_tw_reuse_delay came in Linux 6.14; before it the delay is a fixed 1 s.
#define SKIP_WITHOUT_TW_REUSE_DELAY()      \
  if (!::twbench::KernelHasTwReuseDelay()) \
  GTEST_SKIP() << "this kernel has no tcp_tw_reuse_delay (Linux >= 6.14)"

namespace twbench::test {

// Runs body on a thread in a fresh namespace; a failure to make one fails
// the test (callers have checked CanCreateNetns already).
inline void InFreshNetns(const std::function<void()>& body) {
  const std::optional<std::string> failure = RunInFreshNetns(body);
  ASSERT_FALSE(failure.has_value()) << *failure;
}

}  // namespace twbench::test
