// RaiseFdLimit against the real setrlimit(2) of this process: every test puts
// the limits back as it found them (the hard limit can only be put back by a
// process that may raise it, so tests that lower it need CAP_SYS_RESOURCE).
#include "twbench/fd_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace twbench {
namespace {

rlimit Now() {
  rlimit r{};
  EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &r), 0);
  return r;
}

// Restores RLIMIT_NOFILE on scope exit.
class RestoreFdLimit {
 public:
  RestoreFdLimit() : saved_(Now()) {}
  RestoreFdLimit(const RestoreFdLimit&) = delete;
  RestoreFdLimit& operator=(const RestoreFdLimit&) = delete;
  ~RestoreFdLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }
  const rlimit& saved() const { return saved_; }

 private:
  rlimit saved_;
};

TEST(FdLimitTest, NeedsTwoFdsPerConnectionPlusHeadroom) {
  EXPECT_GE(FdsNeededForConcurrency(10000), 20000u);
  EXPECT_LT(FdsNeededForConcurrency(10000), 21000u);
  EXPECT_GT(FdsNeededForConcurrency(1), 2u);
}

TEST(FdLimitTest, EnoughAlreadyChangesNothing) {
  RestoreFdLimit restore;
  const rlimit before = restore.saved();
  FdLimitChange c = RaiseFdLimit(64);
  EXPECT_TRUE(c.enough());
  EXPECT_FALSE(c.changed());
  EXPECT_EQ(Now().rlim_cur, before.rlim_cur);
  EXPECT_EQ(c.soft, before.rlim_cur);
}

TEST(FdLimitTest, RaisesTheSoftLimitUpToTheHardLimit) {
  RestoreFdLimit restore;
  const rlimit before = restore.saved();
  if (before.rlim_max == RLIM_INFINITY || before.rlim_max < 2048) {
    GTEST_SKIP() << "hard limit " << before.rlim_max << " leaves no room";
  }
  rlimit low = before;
  low.rlim_cur = 1024;  // Debian's usual soft limit
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  FdLimitChange c = RaiseFdLimit(2000);
  EXPECT_TRUE(c.enough()) << Describe(c);
  EXPECT_EQ(c.soft_before, 1024u);
  EXPECT_EQ(c.soft, 2000u);
  EXPECT_EQ(c.hard, before.rlim_max);  // the hard limit was enough
  EXPECT_EQ(Now().rlim_cur, 2000u);
  EXPECT_NE(Describe(c).find("1024 -> 2000"), std::string::npos) << Describe(c);
}

TEST(FdLimitTest, RaisesTheHardLimitWhenAllowedElseSaysWhy) {
  RestoreFdLimit restore;
  const rlimit before = restore.saved();
  if (before.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no hard limit";
  const std::uint64_t wanted = before.rlim_max + 1000;
  FdLimitChange c = RaiseFdLimit(wanted);
  const rlimit after = Now();
  EXPECT_EQ(c.soft, after.rlim_cur);
  EXPECT_EQ(c.hard, after.rlim_max);
  if (c.enough()) {
    // CAP_SYS_RESOURCE: both limits went up.
    EXPECT_EQ(after.rlim_cur, wanted);
    EXPECT_EQ(after.rlim_max, wanted);
    EXPECT_TRUE(c.shortfall.empty()) << c.shortfall;
  } else {
    // No privilege: as far as the hard limit, and the reason said once.
    EXPECT_EQ(after.rlim_cur, before.rlim_max);
    EXPECT_EQ(after.rlim_max, before.rlim_max);
    EXPECT_NE(c.shortfall.find("EPERM"), std::string::npos) << c.shortfall;
    EXPECT_NE(Describe(c).find("short"), std::string::npos) << Describe(c);
  }
}

TEST(FdLimitTest, PastNrOpenIsShortAndSaysSo) {
  RestoreFdLimit restore;
  // fs.nr_open is at most 2^30 - 64 on Linux (sysctl_nr_open_max).
  FdLimitChange c = RaiseFdLimit(std::uint64_t{1} << 31);
  EXPECT_FALSE(c.enough());
  EXPECT_FALSE(c.shortfall.empty());
  EXPECT_GE(Now().rlim_cur, restore.saved().rlim_cur);  // never lowered
}

}  // namespace
}  // namespace twbench
