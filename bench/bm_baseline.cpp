#include "bm_baseline.h"

#include <benchmark/benchmark.h>

#include <exception>

#include "bm_churn.h"
#include "run_counters.h"
#include "spdlog/spdlog.h"
#include "stop_signal.h"
#include "twbench/baseline_churn.h"
#include "twbench/netns.h"

namespace twbench {
namespace {

// The engine row the baseline is the floor of: nothing in it but the churn
// itself (no knob, restart, client binding or second namespace to account
// for).
bool IsBaselineRow(const Scenario& s) {
  return s.concurrency == 64 && s.family == Family::kIPv4 &&
         WhyNotBaseline(s).empty();
}

struct Measured {
  ChurnStats stats;
  bool isolated = false;
  std::string error;
};

// Where the engine's runs go (g_isolate), the baseline goes too: a fresh
// namespace each run, so both meet an empty TIME_WAIT table.
Measured Measure(const Scenario& b) {
  Measured m;
  const auto run = [&b, &m] {
    try {
      m.stats = RunBaselineChurn(b, &g_interrupted);
    } catch (const std::exception& e) {
      m.error = e.what();
    }
  };
  if (!g_isolate) {
    run();
    return m;
  }
  if (std::optional<std::string> why = RunInFreshNetns(run)) {
    m.error = "network namespace: " + *why;
    return m;
  }
  m.isolated = true;
  return m;
}

// The same counter names as BM_Churn's, for what the baseline measures;
// the census and kernel counters it does not take stay empty in the CSV.
void SetCounters(benchmark::State& state, const Measured& m) {
  SetRunCounters(state.counters, m.stats);
  state.counters["isolated"] = m.isolated ? 1 : 0;
}

void BM_Baseline(benchmark::State& state, const Scenario& b) {
  for (auto _ : state) {
    if (g_interrupted.load()) {
      state.SkipWithError(InterruptedMessage().c_str());
      break;
    }
    const Measured m = Measure(b);
    if (!m.stats.fatal.empty()) {
      state.SkipWithError(("cannot run: " + m.stats.fatal).c_str());
      break;
    }
    if (!m.error.empty()) {
      state.SkipWithError(m.error.c_str());
      break;
    }
    SetCounters(state, m);
    if (g_interrupted.load()) {
      state.SetLabel("interrupted");
    } else if (m.stats.hit_time_limit) {
      state.SetLabel("time_limit");
    }
    if (!m.stats.errors.Summary().empty()) {
      spdlog::info("BM_Baseline: {}", m.stats.errors.Summary());
    }
  }
}

}  // namespace

std::map<std::string, Scenario> RegisterBaselineBenchmarks(
    const std::vector<Scenario>& matrix) {
  for (const Scenario& s : matrix) {
    if (!IsBaselineRow(s)) continue;
    const std::string name =
        "BM_Baseline/closer:server/conc:" + std::to_string(s.concurrency) +
        "/payload:0/family:" + std::string(ToString(s.family));
    // The baseline's listener has SO_REUSEADDR and SO_REUSEPORT off, its
    // client autobinds: the scenario it runs, and the CSV's settings
    // columns, say so.
    Scenario described = s;
    described.reuseaddr = false;
    described.reuseport = false;
    described.new_reuseaddr.reset();
    benchmark::RegisterBenchmark(name.c_str(), BM_Baseline, described)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    return {{name, described}};
  }
  return {};
}

}  // namespace twbench
