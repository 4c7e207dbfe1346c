#include "bm_baseline.h"

#include <benchmark/benchmark.h>

#include <exception>

#include "bm_churn.h"
#include "run_counters.h"
#include "spdlog/spdlog.h"
#include "stop_signal.h"
#include "twbench/baseline_churn.h"
#include "twbench/netns.h"
#include "twbench/settings.h"

namespace twbench {
namespace {

// The baseline's listeners have SO_REUSEADDR off, and SO_REUSEPORT only
// where accept=reuseport needs it: the scenario it runs for an engine row,
// and the CSV's settings columns, say so.
Scenario Described(const Scenario& s) {
  Scenario b = s;
  b.reuseaddr = false;
  b.reuseport = false;
  b.new_reuseaddr.reset();
  return b;
}

// The engine row's settings as the baseline's name spells them: the row's
// name segments (settings.h) but reuseaddr and reuseport, which the baseline
// sets itself (Described): "closer:server/conc:64/payload:0/family:ipv4",
// then "/loops:2/accept:shared/client_addrs:4" when away from their default.
std::string BaselineName(const Scenario& b) {
  std::string name = "BM_Baseline";
  for (const Setting& row : Settings()) {
    if (row.key == "reuseaddr" || row.key == "reuseport") continue;
    if (row.in_name == nullptr || !row.in_name(b)) continue;
    name += "/" + std::string(row.segment) + ":" + row.format(b);
  }
  return name;
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
  state.counters["tuple_reuses"] =
      static_cast<double>(m.stats.client.tuple_reuses);
  state.counters["client_ports"] =
      static_cast<double>(m.stats.client.client_ports_distinct);
  state.counters["server_forced_closes"] =
      static_cast<double>(m.stats.server.server_forced_closes);
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
  // Engine rows that differ only in what the baseline sets itself
  // (reuseaddr, reuseport) share one baseline row.
  std::map<std::string, Scenario> registered;
  for (const Scenario& s : matrix) {
    const Scenario described = Described(s);
    if (!WhyNotBaseline(described).empty()) continue;
    const std::string name = BaselineName(described);
    if (!registered.emplace(name, described).second) continue;
    benchmark::RegisterBenchmark(name.c_str(), BM_Baseline, described, &run)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return registered;
}

}  // namespace twbench
