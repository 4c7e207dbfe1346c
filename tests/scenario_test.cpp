// A benchmark's name is its settings: every knob that is set and the
// topology when not loopback appear in it, so two rows with different kernel
// settings never share a name (and regression compares never pair them).
#include "twbench/scenario.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace twbench {
namespace {

TEST(ScenarioNameTest, DefaultsSpellEveryMatrixSetting) {
  Scenario s;
  s.concurrency = 64;
  EXPECT_EQ(SettingsName(s),
            "reuseaddr:0/reuseport:0/closer:server/conc:64/payload:0/"
            "family:ipv4");
  s.reuseaddr = true;
  s.reuseport = true;
  s.closer = Closer::kRst;
  s.payload = 1024;
  s.family = Family::kIPv6;
  EXPECT_EQ(SettingsName(s),
            "reuseaddr:1/reuseport:1/closer:rst/conc:64/payload:1024/"
            "family:ipv6");
}

TEST(ScenarioNameTest, EveryKnobThatIsSetAndTheTopologyAppear) {
  Scenario s;
  const std::string plain = SettingsName(s);
  s.topology = Topology::kVeth;
  EXPECT_EQ(SettingsName(s), plain + "/topology:veth");
  s.knobs.tw_reuse = 2;
  EXPECT_EQ(SettingsName(s), plain + "/topology:veth/tw_reuse:2");
  s.knobs.tw_reuse_delay_ms = 1;
  s.knobs.port_range = std::make_pair(40000, 40999);
  s.knobs.max_tw_buckets = 0;  // set to 0 is set: it stays in the name
  EXPECT_EQ(SettingsName(s), plain +
                                 "/topology:veth/tw_reuse:2/tw_reuse_delay:1/"
                                 "port_range:40000-40999/max_tw_buckets:0");
  s.knobs.tw_reuse = 0;
  EXPECT_NE(SettingsName(s).find("/tw_reuse:0/"), std::string::npos);
}

TEST(ScenarioNameTest, RunParametersStayOutOfTheName) {
  // One value for every run of an invocation, each in a column of its own
  // (budget_connections, time_limit_s, server_port): not matrix settings.
  Scenario s;
  const std::string plain = SettingsName(s);
  s.connections = 5;
  s.time_limit_s = 1;
  s.port = 29517;
  s.backlog = 16;
  EXPECT_EQ(SettingsName(s), plain);
}

}  // namespace
}  // namespace twbench
