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

// The baseline's listener has SO_REUSEADDR and SO_REUSEPORT off: the
// scenario it runs for an engine row, and the CSV's settings columns, say so.
Scenario Described(const Scenario& s) {
  Scenario b = s;
  b.reuseaddr = false;
  b.reuseport = false;
  b.new_reuseaddr.reset();
  return b;
}

// The engine row the baseline is the floor of: nothing in it but the churn
// itself (no knob, restart, client binding or second namespace to account
// for).
bool IsBaselineRow(const Scenario& s) {
  return s.concurrency == 64 && s.family == Family::kIPv4 &&
         WhyNotBaseline(Described(s)).empty();
}

struct BaselineMeasured {
  ChurnStats stats;
  bool isolated = false;
  std::string error;
};

// Where the engine's runs go (RunState::isolate), the baseline goes too: a
// fresh namespace each run, so both meet an empty TIME_WAIT table.
BaselineMeasured Measure(const Scenario& b, const RunState& run) {
  BaselineMeasured m;
  const auto churn = [&b, &run, &m] {
    try {
      m.stats = RunBaselineChurn(b, run.stop);
    } catch (const std::exception& e) {
      m.error = e.what();
    }
  };
  if (!run.isolate) {
    churn();
    return m;
  }
  if (std::optional<std::string> why = RunInFreshNetns(churn)) {
    m.error = "network namespace: " + *why;
    return m;
  }
  m.isolated = true;
  return m;
}

// The same counter names as BM_Churn's, for what the baseline measures;
// the census and kernel counters it does not take stay empty in the CSV.
void SetCounters(benchmark::State& state, const BaselineMeasured& m) {
  SetRunCounters(state.counters, m.stats);
  state.counters["isolated"] = m.isolated ? 1 : 0;
}

void BM_Baseline(benchmark::State& state, const Scenario& b,
                 const RunState* run) {
  for (auto _ : state) {
    if (run->stop->load()) {
      state.SkipWithError(InterruptedMessage().c_str());
      break;
    }
    const BaselineMeasured m = Measure(b, *run);
    if (!m.stats.fatal.empty()) {
      state.SkipWithError(("cannot run: " + m.stats.fatal).c_str());
      break;
    }
    if (!m.error.empty()) {
      state.SkipWithError(m.error.c_str());
      break;
    }
    SetCounters(state, m);
    if (run->stop->load()) {
      state.SetLabel("interrupted");
    } else if (m.stats.client.hit_time_limit) {
      state.SetLabel("time_limit");
    }
    if (!m.stats.errors().Summary().empty()) {
      spdlog::info("BM_Baseline: {}", m.stats.errors().Summary());
    }
  }
}

}  // namespace

std::map<std::string, Scenario> RegisterBaselineBenchmarks(
    const std::vector<Scenario>& matrix, const RunState& run) {
  for (const Scenario& s : matrix) {
    if (!IsBaselineRow(s)) continue;
    const std::string name =
        "BM_Baseline/closer:server/conc:" + std::to_string(s.concurrency) +
        "/payload:0/family:" + std::string(ToString(s.family));
    const Scenario described = Described(s);
    benchmark::RegisterBenchmark(name.c_str(), BM_Baseline, described, &run)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    return {{name, described}};
  }
  return {};
}

}  // namespace twbench
