// Error counts by step and errno name, and the latency histogram's
// percentiles against exact values of known distributions.
#include "twbench/churn_stats.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace twbench {
namespace {

TEST(ErrorCountsTest, CountsByStepAndErrnoName) {
  ErrorCounts e;
  e.Add(Step::kConnect, UV_ECONNREFUSED);
  e.Add(Step::kConnect, UV_ECONNREFUSED);
  e.Add(Step::kRead, UV_ETIMEDOUT);
  e.Add(Step::kBind, UV_EADDRINUSE);
  e.AddNamed(Step::kRead, "EOF");
  EXPECT_EQ(e.Total(), 5u);
  EXPECT_EQ(e.AtStep(Step::kConnect), 2u);
  EXPECT_EQ(e.At(Step::kConnect, "ECONNREFUSED"), 2u);
  EXPECT_EQ(e.ByName("ETIMEDOUT"), 1u);
  EXPECT_EQ(e.ByName("EADDRINUSE"), 1u);
  EXPECT_EQ(e.AtStep(Step::kAccept), 0u);
  EXPECT_EQ(e.Summary(),
            "connect:ECONNREFUSED=2 read:EOF=1 read:ETIMEDOUT=1 "
            "bind:EADDRINUSE=1");
  ErrorCounts other;
  other.Add(Step::kConnect, UV_ECONNREFUSED, 3);
  e.Merge(other);
  EXPECT_EQ(e.At(Step::kConnect, "ECONNREFUSED"), 5u);
}

// The nearest-rank percentile of the exact values.
std::uint64_t Exact(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * double(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

TEST(LatencyHistogramTest, PercentilesWithinThreePercentOfExact) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 1.0);  // ~60 us median, ns
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max_ns(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.min_ns(), *std::min_element(values.begin(), values.end()));
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) {
    const double exact = double(Exact(values, q));
    EXPECT_NEAR(double(h.Percentile(q)), exact, exact * 0.03) << "q=" << q;
  }
  EXPECT_EQ(h.Percentile(1.0), h.max_ns());
}

TEST(LatencyHistogramTest, SmallValuesAreExactAndEmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.max_ns(), 0u);
  for (std::uint64_t v = 1; v <= 10; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(0.5), 5u);
  EXPECT_EQ(h.Percentile(0.9), 9u);
  EXPECT_DOUBLE_EQ(h.mean_ns(), 5.5);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingBoth) {
  LatencyHistogram a, b, both;
  for (std::uint64_t v = 1000; v < 200000; v += 997) {
    (v % 2 ? a : b).Record(v);
    both.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.max_ns(), both.max_ns());
  for (double q : {0.1, 0.5, 0.99})
    EXPECT_EQ(a.Percentile(q), both.Percentile(q));
}

}  // namespace
}  // namespace twbench
