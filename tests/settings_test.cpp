// The settings table: its columns are the CSV's, every row reads back what it
// writes, and the checks that loop over it (baseline, namespace, name) refuse
// and name what they should.
#include "twbench/settings.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "twbench/baseline_churn.h"
#include "twbench/columns.h"

namespace twbench {
namespace {

TEST(SettingsTest, SettingColumnsAreTheColumnTablesSettingGroup) {
  EXPECT_EQ(SettingColumns(), ColumnNames(ColumnGroup::kSetting));
  EXPECT_EQ(SettingCells(Scenario{}).size(), SettingColumns().size());
}

TEST(SettingsTest, EveryRowReadsBackWhatItWrites) {
  for (const Setting& row : Settings()) {
    SCOPED_TRACE(std::string(row.key));
    Scenario s;
    // The first value of the default ("0" of "0,1"), when there is one.
    const std::string_view value =
        row.default_text.substr(0, row.default_text.find(','));
    if (!value.empty()) {
      EXPECT_EQ(row.parse(value, s), "");
      if (row.format != nullptr) {
        EXPECT_EQ(row.format(s), value);
      }
    }
    // Any path is a path; every other setting has values to refuse.
    if (row.values != "PATH") {
      EXPECT_NE(row.parse("bogus", s), "");
    }
    EXPECT_NE(row.help, "");
    EXPECT_NE(row.values, "");
    if (row.kind != SettingKind::kOutput && !row.segment.empty()) {
      EXPECT_NE(row.in_name, nullptr) << "a segment that never shows";
    }
  }
}

TEST(SettingsTest, KeysAreUniqueAndTheNestingNamesMatrixRows) {
  std::set<std::string_view> keys;
  for (const Setting& row : Settings()) {
    EXPECT_TRUE(keys.insert(row.key).second) << row.key;
  }
  std::size_t matrix = 0;
  for (const Setting& row : Settings()) {
    matrix += row.kind == SettingKind::kMatrix ? 1 : 0;
  }
  EXPECT_EQ(MatrixNesting().size(), matrix);
  for (std::string_view key : MatrixNesting()) {
    const Setting* row = FindSetting(key);
    ASSERT_NE(row, nullptr) << key;
    EXPECT_EQ(row->kind, SettingKind::kMatrix) << key;
  }
}

TEST(SettingsTest, FloatsRefuseNanAndInfinity) {
  for (std::string_view key :
       {"time_limit", "restart_max_wait", "connection_timeout"}) {
    for (std::string_view bad : {"nan", "NaN", "inf", "-inf", "1e999", ""}) {
      Scenario s;
      EXPECT_NE(FindSetting(key)->parse(bad, s), "") << key << "=" << bad;
    }
    Scenario s;
    EXPECT_EQ(FindSetting(key)->parse("0.5", s), "") << key;
  }
}

TEST(SettingsTest, TheBaselineRefusesEverySettingItDoesNotRun) {
  const std::vector<std::pair<std::string_view, std::string_view>> refused = {
      {"reuseaddr", "1"},       {"reuseport", "1"},
      {"payload", "1"},         {"topology", "veth"},
      {"tw_reuse", "0"},        {"tw_reuse_delay", "5"},
      {"port_range", "1-2"},    {"max_tw_buckets", "0"},
      {"client_bind", "range"}, {"client_reuseaddr", "1"},
      {"restart_every", "5"},   {"new_reuseaddr", "0"}};
  for (const auto& patch : refused) {
    Scenario s;
    ASSERT_EQ(Apply(s, std::vector{patch}), "");
    EXPECT_NE(WhyNotBaseline(s).find(patch.first), std::string::npos)
        << patch.first << "=" << patch.second << ": " << WhyNotBaseline(s);
  }
  // The engine restarts loops that share one socket; the baseline does not.
  Scenario shared;
  ASSERT_EQ(Apply(shared,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"loops", "2"},
                      {"concurrency", "2"},
                      {"accept", "shared"},
                      {"restart_every", "5"}}),
            "");
  EXPECT_NE(WhyNotBaseline(shared).find("restart_every"), std::string::npos)
      << WhyNotBaseline(shared);
  Scenario runs;
  ASSERT_EQ(Apply(runs,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"concurrency", "8"},
                      {"closer", "rst"},
                      {"loops", "2"},
                      {"accept", "shared"},
                      {"client_addrs", "4"},
                      {"pin", "spread"},
                      {"connections", "5"},
                      {"time_limit", "2"},
                      {"client_ports", "30000-30010"}}),
            "");
  EXPECT_EQ(WhyNotBaseline(runs), "");
  Scenario v6;
  ASSERT_EQ(Apply(v6,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"family", "ipv6"},
                      {"closer", "client"},
                      {"concurrency", "4"},
                      {"loops", "2"}}),
            "");
  EXPECT_EQ(WhyNotBaseline(v6), "");
}

TEST(SettingsTest, NamespaceOnlyNamesKnobsAndVeth) {
  Scenario s;
  EXPECT_EQ(NamespaceOnly(s), "");
  ASSERT_EQ(Apply(s,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"topology", "veth"}, {"tw_reuse", "2"}}),
            "");
  EXPECT_EQ(NamespaceOnly(s), "topology, tw_reuse");
}

TEST(SettingsTest, NameHoldsTheAlwaysSettingsAndOnlyThoseAwayFromDefault) {
  Scenario s;
  EXPECT_EQ(SettingsName(s),
            "reuseaddr:0/reuseport:0/closer:server/conc:1/payload:0/"
            "family:ipv4");
  ASSERT_EQ(Apply(s,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"client_reuseaddr", "1"}, {"connections", "7"}}),
            "");
  EXPECT_EQ(SettingsName(s),
            "reuseaddr:0/reuseport:0/closer:server/conc:1/payload:0/"
            "family:ipv4/client_bind:ephemeral/client_reuseaddr:1");
}

TEST(SettingsTest, ApplyNamesTheSettingItRefuses) {
  Scenario s;
  EXPECT_NE(Apply(s,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"concurrency", "0"}})
                .find("concurrency"),
            std::string::npos);
  EXPECT_NE(Apply(s,
                  std::vector<std::pair<std::string_view, std::string_view>>{
                      {"csv", "x"}}),
            "");
}

}  // namespace
}  // namespace twbench
