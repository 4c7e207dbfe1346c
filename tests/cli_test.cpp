// The twbench binary's command line: bad input names the setting and what
// it accepts and exits 2; --help lists every setting and exits 0.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "run_twbench.h"

namespace {

using ::twbench::testing::Outcome;
using ::twbench::testing::RunTwbench;

TEST(CliTest, UnknownCloserNamesTheSettingAndItsChoices) {
  Outcome o = RunTwbench("--closer=foo");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--closer"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("client"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("rst"), std::string::npos) << o.output;
}

// The MPI mode's flags do nothing in one process; given there, they are a
// mistake (a job started without mpirun) and said so, not ignored.
TEST(CliTest, MpiFlagsWithoutMpiAreRefused) {
  for (const char* flag :
       {"--server_addr=198.18.0.1", "--rank_netns=/run/netns/twb%r",
        "--roles=server,client"}) {
    Outcome o = RunTwbench(std::string(flag) + " --connections=10");
    EXPECT_EQ(o.status, 2) << flag << ": " << o.output;
    const std::string name =
        std::string(flag).substr(0, std::string(flag).find('='));
    EXPECT_NE(o.output.find(name + " is for the MPI mode"), std::string::npos)
        << o.output;
  }
}

TEST(CliTest, ZeroConcurrencyIsOutOfRange) {
  Outcome o = RunTwbench("--concurrency=0");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--concurrency"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("10000"), std::string::npos) << o.output;
}

TEST(CliTest, LoopSettingsOutOfRangeNameTheFlag) {
  for (const char* arg :
       {"--loops=0", "--loops=257", "--accept=foo", "--client_addrs=0",
        "--client_addrs=255", "--restart_mode=later", "--pin=all"}) {
    Outcome o = RunTwbench(arg);
    EXPECT_EQ(o.status, 2) << arg << ": " << o.output;
    const std::string name =
        std::string(arg).substr(0, std::string(arg).find('='));
    EXPECT_NE(o.output.find(name), std::string::npos)
        << arg << ": " << o.output;
  }
}

// Each value is fine alone; together they cannot run: exit 2 before anything
// runs, naming both settings.
TEST(CliTest, SettingsThatDoNotGoTogetherAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"--loops=2 --concurrency=1,64", "concurrency 1 is below loops 2"},
      {"--client_addrs=2 --family=ipv6 --concurrency=64", "::1"},
      {"--client_addrs=254 --topology=veth --concurrency=64", "253 addresses"},
      {"--client_addrs=2 --client_bind=range --concurrency=64",
       "a range binds one address"},
  };
  for (const auto& [args, why] : cases) {
    Outcome o = RunTwbench(std::string(args) + " --benchmark_list_tests=true");
    EXPECT_EQ(o.status, 2) << args << ": " << o.output;
    EXPECT_NE(o.output.find(why), std::string::npos)
        << args << ": " << o.output;
  }
}

// One loop has one listener: --accept does not act, and the two values are
// one run.
TEST(CliTest, AcceptWithOneLoopRunsOnce) {
  Outcome o = RunTwbench(
      "--loops=1,2 --accept=reuseport,shared --closer=server --concurrency=64 "
      "--reuseaddr=1 --payload=0 --benchmark_filter=BM_Churn "
      "--benchmark_list_tests=true");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(o.output,
            "BM_Churn/reuseaddr:1/reuseport:0/closer:server/conc:64/payload:0/"
            "family:ipv4/iterations:1/real_time\n"
            "BM_Churn/reuseaddr:1/reuseport:0/closer:server/conc:64/payload:0/"
            "family:ipv4/loops:2/accept:reuseport/iterations:1/real_time\n"
            "BM_Churn/reuseaddr:1/reuseport:0/closer:server/conc:64/payload:0/"
            "family:ipv4/loops:2/accept:shared/iterations:1/real_time\n");
}

TEST(CliTest, MalformedNumberIsRefused) {
  for (const char* arg : {"--connections=12x", "--payload=-1",
                          "--time_limit=abc", "--concurrency=1,x"}) {
    Outcome o = RunTwbench(arg);
    EXPECT_EQ(o.status, 2) << arg << ": " << o.output;
    const std::string name =
        std::string(arg).substr(0, std::string(arg).find('='));
    EXPECT_NE(o.output.find(name), std::string::npos) << o.output;
  }
}

TEST(CliTest, UnknownFlagIsRefused) {
  Outcome o = RunTwbench("--no_such_setting=1");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("no_such_setting"), std::string::npos) << o.output;
}

TEST(CliTest, FilterMatchingNothingIsAnError) {
  Outcome o = RunTwbench("--benchmark_filter=no_such_benchmark");
  EXPECT_EQ(o.status, 2) << o.output;
}

TEST(CliTest, HelpListsEverySettingAndExitsZero) {
  Outcome o = RunTwbench("--help");
  EXPECT_EQ(o.status, 0) << o.output;
  for (const char* flag : {"--reuseaddr",
                           "--reuseport",
                           "--closer",
                           "--concurrency",
                           "--payload",
                           "--family",
                           "--connections",
                           "--time_limit",
                           "--connection_timeout",
                           "--backlog",
                           "--port",
                           "--csv",
                           "--log_level",
                           "--isolate",
                           "--topology",
                           "--tw_reuse",
                           "--tw_reuse_delay",
                           "--port_range",
                           "--max_tw_buckets",
                           "--timeseries",
                           "--sample_interval_ms",
                           "--benchmark_filter",
                           "--benchmark_repetitions"}) {
    EXPECT_NE(o.output.find(flag), std::string::npos) << flag;
  }
}

TEST(CliTest, PortOutOfRangeNamesTheSettingAndItsRange) {
  for (const char* arg : {"--port=70000", "--port=-1", "--port=abc"}) {
    Outcome o = RunTwbench(arg);
    EXPECT_EQ(o.status, 2) << arg << ": " << o.output;
    EXPECT_NE(o.output.find("--port"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("0 to 65535"), std::string::npos) << o.output;
  }
}

// Client port binding (docs/client-ports.md).
TEST(CliTest, BadClientPortRangeNamesTheSetting) {
  for (const char* arg : {"--client_ports=30000-20000", "--client_ports=0-10",
                          "--client_ports=1-70000", "--client_ports=20000"}) {
    Outcome o = RunTwbench(arg);
    EXPECT_EQ(o.status, 2) << arg << ": " << o.output;
    EXPECT_NE(o.output.find("--client_ports"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("MIN"), std::string::npos) << o.output;
  }
}

TEST(CliTest, UnknownClientBindNamesItsChoices) {
  Outcome o = RunTwbench("--client_bind=random");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--client_bind"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("range_no_port"), std::string::npos) << o.output;
}

TEST(CliTest, NamedScenarioRefusesMatrixSettings) {
  Outcome o = RunTwbench("--scenario=port_exhaustion --closer=server");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--scenario"), std::string::npos) << o.output;
  o = RunTwbench("--scenario=no_such_scenario");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("port_exhaustion"), std::string::npos) << o.output;
}

TEST(CliTest, HelpListsClientBindSettings) {
  Outcome o = RunTwbench("--help");
  EXPECT_EQ(o.status, 0) << o.output;
  for (const char* flag : {"--client_bind", "--client_ports",
                           "--client_reuseaddr", "--scenario"}) {
    EXPECT_NE(o.output.find(flag), std::string::npos) << flag;
  }
}

// Listener restarts: a negative or malformed count, a policy other than
// 0/1 and a zero retry bound are refused, naming the setting and its range.
TEST(CliTest, BadRestartSettingsAreRefused) {
  for (const char* arg :
       {"--restart_every=-1", "--restart_every=500,x",
        "--restart_every=", "--new_reuseaddr=2", "--restart_max_wait=0"}) {
    Outcome o = RunTwbench(arg);
    EXPECT_EQ(o.status, 2) << arg << ": " << o.output;
    const std::string name =
        std::string(arg).substr(0, std::string(arg).find('='));
    EXPECT_NE(o.output.find(name), std::string::npos) << arg << o.output;
  }
  Outcome o = RunTwbench("--restart_every=-1");
  EXPECT_NE(o.output.find("0 to"), std::string::npos) << o.output;
}

TEST(CliTest, HelpListsTheRestartSettings) {
  Outcome o = RunTwbench("--help");
  EXPECT_EQ(o.status, 0) << o.output;
  for (const char* flag :
       {"--restart_every", "--new_reuseaddr", "--restart_max_wait"}) {
    EXPECT_NE(o.output.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
