// Input edge cases of twbench's own flags (issue 12, point 4): every one was
// accepted before, and ran something other than what was asked. Each is
// given with --benchmark_list_tests so that a regression lists instead of
// running a matrix.
#include <gtest/gtest.h>

#include <string>

#include "run_twbench.h"

namespace {

using ::twbench::testing::Outcome;
using ::twbench::testing::RunTwbench;

Outcome List(const std::string& args) {
  return RunTwbench(args + " --benchmark_list_tests=true");
}

void ExpectRefused(const std::string& args, const std::string& flag,
                   const std::string& why) {
  Outcome o = List(args);
  EXPECT_EQ(o.status, 2) << args << ": " << o.output;
  EXPECT_NE(o.output.find(flag), std::string::npos) << args << ": " << o.output;
  EXPECT_NE(o.output.find(why), std::string::npos) << args << ": " << o.output;
}

TEST(CliInputTest, FloatFlagsRefuseNanAndInfinities) {
  for (const char* flag :
       {"--time_limit", "--connection_timeout", "--restart_max_wait"}) {
    for (const char* value : {"nan", "inf", "-inf", "1e400"}) {
      ExpectRefused(std::string(flag) + "=" + value, flag, "finite");
    }
  }
}

TEST(CliInputTest, ADuplicateListEntryIsRefused) {
  ExpectRefused("--closer=client,client", "--closer", "given twice");
  // The same value spelled twice.
  ExpectRefused("--concurrency=64,064", "--concurrency", "given twice");
}

TEST(CliInputTest, ABlankListEntryIsRefused) {
  for (const char* list : {"client,,server", "client,", ",client"}) {
    ExpectRefused(std::string("--closer=") + list, "--closer", "blank");
  }
}

TEST(CliInputTest, AValueTakingFlagNeverSwallowsTheNextFlag) {
  ExpectRefused("--csv --connections=200", "--csv", "--connections=200");
  ExpectRefused("--timeseries --closer=rst", "--timeseries", "--closer=rst");
}

TEST(CliInputTest, AFlagGivenTwiceTakesTheLastValue) {
  Outcome o = List(
      "--closer=client,server --closer=rst --reuseaddr=0 "
      "--concurrency=1 --payload=0 --connections=5 "
      "--connections=6");
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(o.output.find("closer:client/"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("closer:rst/"), std::string::npos) << o.output;
}

TEST(CliInputTest, ListingsComeInThreeFormats) {
  for (const char* list : {"--list_settings", "--list_columns"}) {
    for (const char* format : {"", "=text", "=json", "=markdown"}) {
      Outcome o = RunTwbench(std::string(list) + format);
      EXPECT_EQ(o.status, 0) << list << format << ": " << o.output;
      EXPECT_NE(o.output.find("reuseaddr"), std::string::npos) << o.output;
    }
    Outcome o = RunTwbench(std::string(list) + "=xml");
    EXPECT_EQ(o.status, 2) << o.output;
    EXPECT_NE(o.output.find(list), std::string::npos) << o.output;
  }
}

}  // namespace
