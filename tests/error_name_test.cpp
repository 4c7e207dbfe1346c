// Error names come from libuv without an allocation left behind: the
// sanitizer suite's LeakSanitizer fails this test if one is.
#include "twbench/error_name.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <cerrno>

namespace twbench {
namespace {

TEST(ErrorNameTest, KnownCodesByName) {
  EXPECT_EQ(UvErrorName(UV_EADDRINUSE), "EADDRINUSE");
  EXPECT_EQ(ErrnoName(EADDRNOTAVAIL), "EADDRNOTAVAIL");
  EXPECT_EQ(ErrnoName(ECONNREFUSED), "ECONNREFUSED");
}

// uv_err_name() strdup()s "Unknown system error N" for these and never
// frees it; a client rank of an MPI job labelled its row's rebind with
// code 0 that way once per run.
TEST(ErrorNameTest, UnknownCodesAreNamedWithoutLeaking) {
  EXPECT_EQ(UvErrorName(0), "Unknown system error 0");
  EXPECT_EQ(UvErrorName(-123456), "Unknown system error -123456");
}

}  // namespace
}  // namespace twbench
