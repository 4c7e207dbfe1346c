// The column table: names are unique, the CSV's groups come in order, and a
// counter a benchmark sets without a row is reported, not dropped.
#include "twbench/columns.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "twbench/csv_reporter.h"

namespace twbench {
namespace {

TEST(ColumnsTest, NamesAreUniqueAndGroupsComeInCsvOrder) {
  std::set<std::string_view> names;
  int last = -1;
  for (const Column& c : Columns()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_NE(c.help, "") << c.name;
    EXPECT_NE(c.unit, "") << c.name;
    const int group = static_cast<int>(c.group);
    EXPECT_GE(group, last) << c.name << " is out of its group's place";
    last = group;
    if (c.default_compared) {
      EXPECT_NE(c.compare, Compare::kNone) << c.name;
    }
  }
}

TEST(ColumnsTest, TheCsvHeaderIsTheTableWithoutJsonOnlyCounters) {
  std::vector<std::string> expected;
  for (const Column& c : Columns()) {
    if (c.group != ColumnGroup::kJsonOnly) expected.emplace_back(c.name);
  }
  EXPECT_EQ(CsvColumns(), expected);
}

TEST(ColumnsTest, ACounterWithoutARowIsReportedNotDropped) {
  std::ostringstream out;
  CsvWriter writer(out, RunContext{}, nullptr);
  benchmark::BenchmarkReporter::Run run;
  run.counters["conn_per_s"] = 1;
  run.counters["isolated"] = 1;
  run.counters["sample_interval_ms"] = 0;
  run.counters["no_such_column"] = 2;
  writer.WriteRow(run);
  EXPECT_EQ(writer.unknown_counters(), std::set<std::string>{"no_such_column"});
  EXPECT_TRUE(IsKnownCounter("time_wait"));
  EXPECT_FALSE(IsKnownCounter("kernel"));  // context, not a counter
}

}  // namespace
}  // namespace twbench
