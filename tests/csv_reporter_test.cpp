#include "twbench/csv_reporter.h"

#include <benchmark/benchmark.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace twbench {
namespace {

// Not "Run": a fixture would see testing::Test::Run instead.
using BenchRun = benchmark::BenchmarkReporter::Run;

// The header, spelled out: a change of column order must show up here.
// The header users' scripts read: the golden file golden_test checks the
// binary's CSV against.
std::string GoldenHeader() {
  std::ifstream in(TWBENCH_SOURCE_DIR "/tests/golden/csv_header.txt");
  std::string line;
  std::getline(in, line);
  return line;
}
const std::string kHeader = GoldenHeader();

constexpr const char* kContextCells =
    "6.18.0-test,1.44.2,abc123def456,box,2026-11-23T19:22:21Z,,";

constexpr const char* kScenarioName = "BM_Churn/reuseaddr:1/closer:client";

RunContext TestContext() {
  RunContext context;
  context.kernel = "6.18.0-test";
  context.libuv_version = "1.44.2";
  context.git_commit = "abc123def456";
  context.host = "box";
  context.utc = "2026-11-23T19:22:21Z";
  return context;
}

Scenario TestScenario() {
  Scenario scenario;
  scenario.reuseaddr = true;
  scenario.reuseport = false;
  scenario.closer = Closer::kClient;
  scenario.concurrency = 64;
  scenario.payload = 128;
  scenario.family = Family::kIPv6;
  scenario.connections = 10000;
  scenario.time_limit_s = 2.5;
  return scenario;
}

// Column counts taken from the header, so that the expected rows below do not
// have to be recounted by hand when a column is added.
std::size_t IndexOf(const std::string& column) {
  const std::vector<std::string> columns = CsvColumns();
  return static_cast<std::size_t>(
      std::find(columns.begin(), columns.end(), column) - columns.begin());
}
std::size_t SettingsCount() {
  return IndexOf("connections") - IndexOf("reuseaddr");
}
std::size_t CounterCount() { return CounterColumns().size(); }
// Position of a counter among the counters.
std::size_t CounterIndex(const std::string& column) {
  return IndexOf(column) - IndexOf("connections");
}
// `n` empty cells, each with the comma that ends it.
std::string Empty(std::size_t n) { return std::string(n, ','); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class CsvWriterTest : public ::testing::Test {
 protected:
  CsvWriterTest()
      : scenarios_{{kScenarioName, TestScenario()}},
        writer_(out_, TestContext(), [this](const std::string& name) {
          ++lookups_;
          const auto it = scenarios_.find(name);
          return it == scenarios_.end() ? nullptr : &it->second;
        }) {}

  static BenchRun IterationRun() {
    BenchRun run;
    run.run_name.function_name = kScenarioName;
    run.run_name.time_type = "real_time";
    run.run_type = BenchRun::RT_Iteration;
    run.repetition_index = 1;
    run.repetitions = 3;
    run.iterations = 1;
    run.real_accumulated_time = 1.25;
    const std::vector<double> values = {
        10000, 10000, 9999, 1.25, 8000, 10000, 0,     10000,  1,     1,
        0,     0,     0,    0,    0,    0,     0,     0,      0,     0,
        0,     0,     0,    0,    45.5, 80.25, 0.125, 1000.0, 40000, 10000};
    for (std::size_t i = 0; i < values.size(); ++i) {
      run.counters[CounterColumns()[i]] = values[i];
    }
    // Counters outside the column set are not columns.
    run.counters["not_a_column"] = 42;
    return run;
  }

  std::ostringstream out_;
  std::map<std::string, Scenario> scenarios_;
  int lookups_ = 0;
  CsvWriter writer_;
};

TEST(CsvColumnsTest, HeaderOrderIsFixed) {
  std::string joined;
  for (const std::string& column : CsvColumns()) {
    joined += (joined.empty() ? "" : ",") + column;
  }
  EXPECT_EQ(joined, kHeader);
  EXPECT_EQ(CounterColumns().size(), 77u);
}

TEST(CsvFieldTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("plain text"), "plain text");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(CsvField("carriage\rreturn"), "\"carriage\rreturn\"");
  EXPECT_EQ(CsvField("\""), "\"\"\"\"");
}

TEST(CsvNumberTest, IntegralValuesHaveNoDecimals) {
  EXPECT_EQ(CsvNumber(0), "0");
  EXPECT_EQ(CsvNumber(-0.0), "0");
  EXPECT_EQ(CsvNumber(10000), "10000");
  EXPECT_EQ(CsvNumber(100000), "100000");
  EXPECT_EQ(CsvNumber(-3), "-3");
  EXPECT_EQ(CsvNumber(9007199254740992.0), "9007199254740992");
}

TEST(CsvNumberTest, FractionsAreShortestRoundTrip) {
  EXPECT_EQ(CsvNumber(0.25), "0.25");
  EXPECT_EQ(CsvNumber(8123.456), "8123.456");
  EXPECT_EQ(CsvNumber(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(CsvNumber(1e-5), "1e-05");
  EXPECT_EQ(CsvNumber(1e20), "1e+20");
  EXPECT_EQ(CsvNumber(1.5e300), "1.5e+300");
  EXPECT_EQ(CsvNumber(1e-300), "1e-300");
  for (double value : {1.0 / 3.0, 2.0 / 3.0 * 1e6, 123.456e-7, 6.02214076e23}) {
    EXPECT_EQ(std::strtod(CsvNumber(value).c_str(), nullptr), value)
        << CsvNumber(value);
  }
}

TEST(CsvNumberTest, NonFiniteValuesAreSpelledOut) {
  EXPECT_EQ(CsvNumber(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(CsvNumber(-std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(CsvNumber(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(CsvNumber(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST_F(CsvWriterTest, WritesHeader) {
  writer_.WriteHeader();
  EXPECT_EQ(out_.str(), std::string(kHeader) + "\n");
}

TEST_F(CsvWriterTest, IterationRowCarriesSettingsCountersAndContext) {
  writer_.WriteRow(IterationRun());
  EXPECT_EQ(lookups_, 1);
  EXPECT_EQ(out_.str(),
            std::string("BM_Churn/reuseaddr:1/closer:client/real_time,"
                        "iteration,,1,3,,,"
                        "1,0,client,64,128,ipv6,10000,2.5,loopback,"
                        "ephemeral,,0,0,1,65,stop_start,1,reuseport,1,none,"
                        "10000,10000,9999,1.25,8000,10000,0,10000,1,1,"
                        "0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                        "45.5,80.25,0.125,1000,40000,10000,") +
                Empty(CounterCount() - 30) + "1.25," + kContextCells + "\n");
}

TEST_F(CsvWriterTest, IsolatedComesFromTheRunsCounter) {
  BenchRun run = IterationRun();
  run.counters["isolated"] = 1;
  writer_.WriteRow(run);
  const std::string row = out_.str();
  EXPECT_EQ(row.substr(row.size() - 4), ",1,\n") << row;
}

TEST_F(CsvWriterTest, PortRangeComesFromTheRunsCounters) {
  BenchRun run = IterationRun();
  run.counters["port_min"] = 40000;
  run.counters["port_max"] = 40999;
  writer_.WriteRow(run);
  const std::string row = out_.str();
  EXPECT_EQ(row.substr(row.size() - 13), ",40000-40999\n") << row;
}

TEST_F(CsvWriterTest, RealTimeIsPerIteration) {
  BenchRun run = IterationRun();
  run.iterations = 4;
  run.real_accumulated_time = 1.0;
  writer_.WriteRow(run);
  const std::string row = out_.str();
  EXPECT_NE(
      row.find(",10000," + Empty(CounterCount() - 30) + "0.25,6.18.0-test,"),
      std::string::npos)
      << row;
}

TEST_F(CsvWriterTest, ErroredRunHasEmptyCountersAndQuotedFields) {
  BenchRun run;
  run.run_name.function_name = "BM_Churn/odd,\"name\"";
  run.run_type = BenchRun::RT_Iteration;
  run.repetition_index = 0;
  run.repetitions = 1;
  run.error_occurred = true;
  run.error_message = "listen: \"EADDRINUSE\", port 80";
  run.report_label = "two\nlines";
  writer_.WriteRow(run);
  EXPECT_EQ(out_.str(),
            std::string("\"BM_Churn/odd,\"\"name\"\"\",iteration,,0,1,"
                        "\"listen: \"\"EADDRINUSE\"\", port 80\","
                        "\"two\nlines\",") +
                Empty(SettingsCount()) +  // settings: scenario unknown
                Empty(CounterCount()) +   // counters: none on an error
                "," +                     // real_time_s: none on an error
                kContextCells + "\n");
}

TEST_F(CsvWriterTest, LookupMissLeavesSettingsEmptyButKeepsCounters) {
  BenchRun run = IterationRun();
  run.run_name.function_name = "BM_Unknown";
  run.run_name.time_type = "";
  run.counters.clear();
  run.counters["connections"] = 5;
  run.counters["client_ports"] = 5;
  writer_.WriteRow(run);
  EXPECT_EQ(out_.str(),
            std::string("BM_Unknown,iteration,,1,3,,,") +
                Empty(SettingsCount()) + "5" +
                Empty(CounterIndex("client_ports")) + "5," +
                Empty(CounterCount() - CounterIndex("client_ports") - 1) +
                "1.25," + kContextCells + "\n");
}

TEST_F(CsvWriterTest, AggregateRowsHaveNoRepetitionIndex) {
  BenchRun mean;
  mean.run_name.function_name = kScenarioName;
  mean.run_name.repetitions = "repetitions:3";
  mean.run_name.time_type = "real_time";
  mean.run_type = BenchRun::RT_Aggregate;
  mean.aggregate_name = "mean";
  mean.aggregate_unit = benchmark::kTime;
  mean.repetition_index = BenchRun::no_repetition_index;
  mean.repetitions = 3;
  // GB stores the statistic scaled so that dividing by iterations gives the
  // per-iteration time.
  mean.iterations = 2;
  mean.real_accumulated_time = 0.5;
  mean.counters["conn_per_s"] = 8123.456;
  writer_.WriteRow(mean);

  BenchRun cv = mean;
  cv.aggregate_name = "cv";
  cv.aggregate_unit = benchmark::kPercentage;
  // A ratio; dividing by iterations would halve it.
  cv.real_accumulated_time = 0.05;
  cv.counters["conn_per_s"] = 0.015;
  writer_.WriteRow(cv);

  const std::string prefix =
      "BM_Churn/reuseaddr:1/closer:client/repetitions:3/real_time,aggregate,";
  const std::string settings =
      "1,0,client,64,128,ipv6,10000,2.5,loopback,ephemeral,,0,0,1,65,stop_"
      "start,1,reuseport,1,none,";
  EXPECT_EQ(Lines(out_.str()),
            (std::vector<std::string>{
                prefix + "mean,,3,,," + settings + ",,,,8123.456" +
                    Empty(CounterCount() - 5) + ",0.25," + kContextCells,
                prefix + "cv,,3,,," + settings + ",,,,0.015" +
                    Empty(CounterCount() - 5) + ",0.05," + kContextCells}));
}

// The cell of `column` in a CSV line without quoted fields.
std::string CellOf(const std::string& line, const std::string& column) {
  const std::vector<std::string> columns = CsvColumns();
  const auto at = std::find(columns.begin(), columns.end(), column);
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) cells.push_back(cell);
  if (line.back() == ',') cells.emplace_back();
  const auto index = static_cast<std::size_t>(at - columns.begin());
  return index < cells.size() ? cells[index] : "<no such cell>";
}

// The stddev and cv of a constant counter are 0: an aggregate row must not
// read "not isolated", a port range "0-0" or "tcp_tw_reuse=0" because of that.
TEST_F(CsvWriterTest, AggregatesTakeCounterContextFromTheirRepetitions) {
  BenchRun repetition = IterationRun();
  repetition.counters["isolated"] = 1;
  repetition.counters["port_min"] = 40000;
  repetition.counters["port_max"] = 40999;
  repetition.counters["tw_reuse"] = 2;
  repetition.counters["tw_reuse_delay_ms"] = 1;
  repetition.counters["max_tw_buckets"] = 131072;
  repetition.counters["time_wait"] = 500;
  writer_.WriteRow(repetition);
  writer_.WriteRow(repetition);
  BenchRun stddev = repetition;
  stddev.run_type = BenchRun::RT_Aggregate;
  stddev.aggregate_name = "stddev";
  stddev.repetition_index = BenchRun::no_repetition_index;
  for (const char* name :
       {"isolated", "port_min", "port_max", "tw_reuse", "tw_reuse_delay_ms",
        "max_tw_buckets", "time_wait"}) {
    stddev.counters[name] = 0;
  }
  writer_.WriteRow(stddev);
  const std::vector<std::string> lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    EXPECT_EQ(line.substr(line.size() - 14), ",1,40000-40999") << line;
    EXPECT_EQ(CellOf(line, "tw_reuse"), "2") << line;
    EXPECT_EQ(CellOf(line, "tw_reuse_delay_ms"), "1") << line;
    EXPECT_EQ(CellOf(line, "port_min"), "40000") << line;
    EXPECT_EQ(CellOf(line, "port_max"), "40999") << line;
    EXPECT_EQ(CellOf(line, "max_tw_buckets"), "131072") << line;
  }
  // A measurement keeps its statistic.
  EXPECT_EQ(CellOf(lines[1], "time_wait"), "500");
  EXPECT_EQ(CellOf(lines[2], "time_wait"), "0");
}

// Repetitions that ran differently (one got no namespace) leave the
// aggregate's cell blank: no single value holds for them.
TEST_F(CsvWriterTest, AggregateContextIsBlankWhenRepetitionsDiffer) {
  BenchRun repetition = IterationRun();
  repetition.counters["isolated"] = 1;
  writer_.WriteRow(repetition);
  repetition.counters["isolated"] = 0;
  writer_.WriteRow(repetition);
  BenchRun mean = repetition;
  mean.run_type = BenchRun::RT_Aggregate;
  mean.aggregate_name = "mean";
  mean.counters["isolated"] = 0.5;
  writer_.WriteRow(mean);
  const std::vector<std::string> lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].substr(lines[2].size() - 2), ",,") << lines[2];
}

// With only aggregates reported, the mean (written first) decides for the
// stddev and cv rows of the same name.
TEST_F(CsvWriterTest, AggregatesOnlyTakeContextFromTheMean) {
  BenchRun mean = IterationRun();
  mean.run_type = BenchRun::RT_Aggregate;
  mean.aggregate_name = "mean";
  mean.counters["isolated"] = 1;
  writer_.WriteRow(mean);
  BenchRun cv = mean;
  cv.aggregate_name = "cv";
  cv.counters["isolated"] = 0;
  writer_.WriteRow(cv);
  const std::vector<std::string> lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].substr(lines[1].size() - 3), ",1,") << lines[1];
}

TEST_F(CsvWriterTest, SkipsComplexityRows) {
  BenchRun big_o = IterationRun();
  big_o.run_type = BenchRun::RT_Aggregate;
  big_o.report_big_o = true;
  writer_.WriteRow(big_o);
  BenchRun rms = big_o;
  rms.report_big_o = false;
  rms.report_rms = true;
  writer_.WriteRow(rms);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CsvWriterTest, EveryRowHasEveryColumn) {
  writer_.WriteHeader();
  writer_.WriteRow(IterationRun());
  BenchRun bare;
  bare.run_name.function_name = "x";
  bare.repetition_index = 0;
  bare.repetitions = 1;
  writer_.WriteRow(bare);
  for (const std::string& line : Lines(out_.str())) {
    EXPECT_EQ(std::count(line.begin(), line.end(), ','),
              static_cast<std::ptrdiff_t>(CsvColumns().size() - 1))
        << line;
  }
}

// Records what the tee forwards.
class RecordingReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override {
    ++contexts;
    return true;
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) names.push_back(run.benchmark_name());
  }
  void Finalize() override { ++finalized; }

  int contexts = 0;
  int finalized = 0;
  std::vector<std::string> names;
};

TEST_F(CsvWriterTest, TeeForwardsAndWritesHeaderOnce) {
  RecordingReporter display;
  TeeCsvReporter tee(&display, &writer_);
  const benchmark::BenchmarkReporter::Context context;
  EXPECT_TRUE(tee.ReportContext(context));
  EXPECT_TRUE(tee.ReportContext(context));
  tee.ReportRuns({IterationRun(), IterationRun()});
  tee.Finalize();

  EXPECT_EQ(display.contexts, 2);
  EXPECT_EQ(display.finalized, 1);
  EXPECT_EQ(display.names.size(), 2u);
  const std::vector<std::string> lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], kHeader);
  EXPECT_EQ(lines[1], lines[2]);
  EXPECT_EQ(lines[1].rfind("BM_Churn/reuseaddr:1/closer:client/real_time,", 0),
            0u);
}

// Runs a real benchmark through Google Benchmark, so that the rows match
// what the library really hands a reporter (aggregates, repetition indexes).
TEST_F(CsvWriterTest, RealBenchmarkRunThroughTee) {
  benchmark::RegisterBenchmark(kScenarioName,
                               [](benchmark::State& state) {
                                 for (auto _ : state) {
                                   state.SetIterationTime(0.25);
                                 }
                                 state.counters["connections"] = 7;
                               })
      ->UseManualTime()
      ->Iterations(2)
      ->Repetitions(3);
  std::ostringstream console_out;
  benchmark::ConsoleReporter console(benchmark::ConsoleReporter::OO_None);
  console.SetOutputStream(&console_out);
  console.SetErrorStream(&console_out);
  TeeCsvReporter tee(&console, &writer_);
  // One benchmark instance, run three times.
  EXPECT_EQ(benchmark::RunSpecifiedBenchmarks(&tee, "^BM_Churn/reuseaddr:1/"),
            1u);
  benchmark::ClearRegisteredBenchmarks();

  // GB 1.7.1 spells repetitions "repeats:" in run names.
  const std::string name =
      "BM_Churn/reuseaddr:1/closer:client/iterations:2/repeats:3/manual_time";
  const std::string settings =
      "1,0,client,64,128,ipv6,10000,2.5,loopback,ephemeral,,0,0,1,65,stop_"
      "start,1,reuseport,1,none,";
  const std::string counters_tail = Empty(CounterCount() - 1);
  auto row = [&](const std::string& identity, const std::string& connections,
                 const std::string& real_time) {
    return name + "," + identity + ",3,,," + settings + connections +
           counters_tail + "," + real_time + "," + kContextCells;
  };
  EXPECT_EQ(Lines(out_.str()), (std::vector<std::string>{
                                   kHeader,
                                   row("iteration,,0", "7", "0.25"),
                                   row("iteration,,1", "7", "0.25"),
                                   row("iteration,,2", "7", "0.25"),
                                   row("aggregate,mean,", "7", "0.25"),
                                   row("aggregate,median,", "7", "0.25"),
                                   row("aggregate,stddev,", "0", "0"),
                                   row("aggregate,cv,", "0", "0"),
                               }));
}

}  // namespace
}  // namespace twbench
