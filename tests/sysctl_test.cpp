// The per-namespace TCP knobs, always changed inside a fresh namespace so the
// host keeps its values: the defaults a new namespace gets, each knob set and
// read back, bad values refused by name, and the host untouched.
#include "twbench/sysctl.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

#include "netns_skip.h"
#include "twbench/netns.h"

namespace twbench {
namespace {

using test::InFreshNetns;

bool HasPrefix(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST(SysctlTest, ReadsTheHostValues) {
  const TcpKnobValues host = ReadTcpKnobs();
  EXPECT_GE(host.tw_reuse, 0);
  EXPECT_LE(host.tw_reuse, 2);
  EXPECT_GE(host.port_min, 1);
  EXPECT_LE(host.port_min, host.port_max);
  EXPECT_LE(host.port_max, 65535);
  EXPECT_GE(host.max_tw_buckets, 0);
}

// A new namespace starts from the kernel's defaults, not from the host's
// settings. Measured on this machine (Linux 6.18): tcp_tw_reuse=2,
// tcp_tw_reuse_delay=1000, ip_local_port_range=32768-60999,
// tcp_max_tw_buckets=131072 (half the established-hash size, the same as the
// host here).
TEST(SysctlTest, FreshNamespaceStartsFromKernelDefaults) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    const TcpKnobValues fresh = ReadTcpKnobs();
    RecordProperty("fresh_netns_knobs", ToString(fresh));
    EXPECT_EQ(fresh.tw_reuse, 2);
    if (KernelHasTwReuseDelay()) {
      ASSERT_TRUE(fresh.tw_reuse_delay_ms.has_value());
      EXPECT_EQ(*fresh.tw_reuse_delay_ms, 1000);
    } else {
      EXPECT_FALSE(fresh.tw_reuse_delay_ms.has_value());  // before 6.14
    }
    EXPECT_EQ(fresh.port_min, 32768);
    EXPECT_EQ(fresh.port_max, 60999);
    EXPECT_GT(fresh.max_tw_buckets, 0);
  });
}

TEST(SysctlTest, SetsAndReadsBackEveryKnob) {
  SKIP_WITHOUT_NETNS();
  SKIP_WITHOUT_TW_REUSE_DELAY();
  InFreshNetns([] {
    TcpKnobs knobs;
    knobs.tw_reuse = 1;
    knobs.tw_reuse_delay_ms = 5;
    knobs.port_range = {40000, 40099};
    knobs.max_tw_buckets = 17;
    ASSERT_EQ(ApplyTcpKnobs(knobs), "");
    const TcpKnobValues now = ReadTcpKnobs();
    EXPECT_EQ(now.tw_reuse, 1);
    EXPECT_EQ(now.tw_reuse_delay_ms, 5);
    EXPECT_EQ(now.port_min, 40000);
    EXPECT_EQ(now.port_max, 40099);
    EXPECT_EQ(now.max_tw_buckets, 17);
    EXPECT_EQ(ToString(now),
              "tcp_tw_reuse=1 tcp_tw_reuse_delay=5 "
              "ip_local_port_range=40000-40099 tcp_max_tw_buckets=17");

    // One knob at a time leaves the others alone; a one-port range and
    // max_tw_buckets=0 are legal.
    TcpKnobs one;
    one.tw_reuse = 0;
    ASSERT_EQ(ApplyTcpKnobs(one), "");
    TcpKnobs edge;
    edge.port_range = {50000, 50000};
    edge.max_tw_buckets = 0;
    ASSERT_EQ(ApplyTcpKnobs(edge), "");
    const TcpKnobValues after = ReadTcpKnobs();
    EXPECT_EQ(after.tw_reuse, 0);
    EXPECT_EQ(after.tw_reuse_delay_ms, 5);
    EXPECT_EQ(after.port_min, 50000);
    EXPECT_EQ(after.port_max, 50000);
    EXPECT_EQ(after.max_tw_buckets, 0);
    EXPECT_EQ(ApplyTcpKnobs(TcpKnobs{}), "");  // nothing to do
  });
}

TEST(SysctlTest, RefusesBadValuesByKnobName) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    const TcpKnobValues before = ReadTcpKnobs();
    const auto refused = [](const TcpKnobs& knobs) {
      return ApplyTcpKnobs(knobs);
    };
    TcpKnobs k;
    k.tw_reuse = 3;
    EXPECT_EQ(refused(k),
              "tcp_tw_reuse=3: out of range (0 off, 1 on, 2 loopback only)");
    k = {};
    k.tw_reuse = -1;
    EXPECT_TRUE(HasPrefix(refused(k), "tcp_tw_reuse=-1: out of range"));
    k = {};
    k.tw_reuse_delay_ms = 0;
    EXPECT_TRUE(HasPrefix(refused(k), "tcp_tw_reuse_delay=0: out of range"));
    k = {};
    k.port_range = {60000, 50000};
    EXPECT_EQ(refused(k),
              "ip_local_port_range=60000-50000: minimum above maximum");
    k = {};
    k.port_range = {0, 100};
    EXPECT_EQ(refused(k),
              "ip_local_port_range=0-100: ports must be in 1..65535");
    k = {};
    k.port_range = {1024, 65536};
    EXPECT_EQ(refused(k),
              "ip_local_port_range=1024-65536: ports must be in 1..65535");
    k = {};
    k.max_tw_buckets = -5;
    EXPECT_EQ(refused(k), "tcp_max_tw_buckets=-5: must be >= 0");
    // A bad value among good ones: nothing is written.
    k = {};
    k.tw_reuse = 1;
    k.max_tw_buckets = -1;
    EXPECT_NE(refused(k), "");

    // Refused by the kernel itself: the errno, and the rule behind it.
    k = {};
    k.port_range = {100, 200};
    EXPECT_EQ(refused(k),
              "ip_local_port_range=100-200: Invalid argument (the minimum "
              "must be >= ip_unprivileged_port_start=1024)");
    k = {};
    k.tw_reuse_delay_ms = 600000;  // above the kernel's 60 s TCP_PAWS_MSL
    if (KernelHasTwReuseDelay()) {
      EXPECT_EQ(refused(k), "tcp_tw_reuse_delay=600000: Invalid argument");
    } else {  // a knob the kernel lacks is an error, not a silent default
      EXPECT_EQ(refused(k),
                "tcp_tw_reuse_delay: this kernel has no "
                "/proc/sys/net/ipv4/tcp_tw_reuse_delay");
    }

    const TcpKnobValues after = ReadTcpKnobs();
    EXPECT_EQ(ToString(after), ToString(before));
  });
}

TEST(SysctlTest, SettingInsideLeavesTheHostAlone) {
  SKIP_WITHOUT_NETNS();
  const TcpKnobValues host_before = ReadTcpKnobs();
  InFreshNetns([&] {
    TcpKnobs knobs;
    knobs.tw_reuse = host_before.tw_reuse == 1 ? 0 : 1;
    if (KernelHasTwReuseDelay()) knobs.tw_reuse_delay_ms = 7;
    knobs.port_range = {45000, 45010};
    knobs.max_tw_buckets = 3;
    ASSERT_EQ(ApplyTcpKnobs(knobs), "");
    EXPECT_NE(ToString(ReadTcpKnobs()), ToString(host_before));
  });
  EXPECT_EQ(ToString(ReadTcpKnobs()), ToString(host_before));
}

}  // namespace
}  // namespace twbench
