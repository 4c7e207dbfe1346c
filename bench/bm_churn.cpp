#include "bm_churn.h"

#include <benchmark/benchmark.h>
#include <uv.h>

#include <exception>

#include "spdlog/spdlog.h"
#include "twbench/churn.h"
#include "twbench/socket_census.h"

namespace twbench {

std::atomic<bool> g_interrupted{false};

namespace {

struct Census {
  std::uint64_t server = 0;  // TIME_WAIT whose local port is the server's
  std::uint64_t client = 0;  // TIME_WAIT whose remote port is the server's
};

// The run's own TIME_WAIT sockets: the server port is fresh for every run,
// so filtering by it in the kernel leaves out every other run's sockets.
Census CountTimeWait(const Scenario& s, std::uint16_t server_port) {
  CensusQuery q;
  q.states = StateBit(TcpState::kTimeWait);
  q.ipv4 = s.family == Family::kIPv4;
  q.ipv6 = s.family == Family::kIPv6;
  q.local_port = server_port;
  Census c;
  c.server = CountTcpSockets(q).time_wait();
  q.local_port.reset();
  q.remote_port = server_port;
  c.client = CountTcpSockets(q).time_wait();
  return c;
}

double Us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

void SetCounters(benchmark::State& state, const ChurnStats& st,
                 const Census& census) {
  const double done = static_cast<double>(st.completed);
  const double tw = static_cast<double>(census.server + census.client);
  const ErrorCounts& e = st.errors;
  auto& c = state.counters;
  c["connections"] = done;
  c["attempted"] = static_cast<double>(st.attempted);
  c["accepted"] = static_cast<double>(st.accepted);
  c["seconds"] = st.seconds;
  c["conn_per_s"] = st.seconds > 0 ? done / st.seconds : 0;
  c["time_wait"] = tw;
  c["time_wait_server"] = static_cast<double>(census.server);
  c["time_wait_client"] = static_cast<double>(census.client);
  c["time_wait_per_conn"] = done > 0 ? tw / done : 0;
  c["rebind_ok"] = st.rebind.bound ? 1 : 0;
  c["bind_failures"] =
      static_cast<double>(e.AtStep(Step::kBind) + e.AtStep(Step::kListen));
  for (const char* name : {"EADDRINUSE", "EADDRNOTAVAIL", "ECONNREFUSED",
                           "ECONNRESET", "ETIMEDOUT", "EMFILE"}) {
    std::string key(name);
    for (char& ch : key) ch = static_cast<char>(std::tolower(ch));
    c[key] = static_cast<double>(e.ByName(name));
  }
  c["connect_errors"] = static_cast<double>(e.AtStep(Step::kConnect));
  c["accept_errors"] = static_cast<double>(e.AtStep(Step::kAccept));
  c["read_errors"] = static_cast<double>(e.AtStep(Step::kRead));
  c["write_errors"] = static_cast<double>(e.AtStep(Step::kWrite));
  c["errors_total"] = static_cast<double>(e.Total());
  c["resets"] = static_cast<double>(st.resets);
  c["unfinished"] = static_cast<double>(st.unfinished);
  c["lat_p50_us"] = Us(st.latency.Percentile(0.50));
  c["lat_p90_us"] = Us(st.latency.Percentile(0.90));
  c["lat_p99_us"] = Us(st.latency.Percentile(0.99));
  c["lat_max_us"] = Us(st.latency.max_ns());
  c["server_port"] = st.server_port;
  c["client_ports"] = static_cast<double>(st.client_ports_distinct);
}

std::string Label(const ChurnStats& st) {
  std::string label = "rebind=";
  label += st.rebind.bound ? "bound" : uv_err_name(st.rebind.error);
  if (g_interrupted.load()) {
    label += ",interrupted";
  } else if (st.hit_time_limit) {
    label += ",time_limit";
  }
  return label;
}

void BM_Churn(benchmark::State& state, const Scenario& s) {
  for (auto _ : state) {
    if (g_interrupted.load()) {
      state.SkipWithError("skipped: interrupted (SIGINT)");
      break;
    }
    // The engine times the churn itself (`seconds`); Google Benchmark's
    // real time also holds thread start-up and the census.
    ChurnStats st = RunChurn(s, &g_interrupted);
    if (!st.fatal.empty()) {
      state.SkipWithError(("cannot run: " + st.fatal).c_str());
      break;
    }
    Census census;
    try {
      census = CountTimeWait(s, st.server_port);
    } catch (const std::exception& ex) {
      state.SkipWithError((std::string("socket census: ") + ex.what()).c_str());
      break;
    }
    SetCounters(state, st, census);
    state.SetLabel(Label(st));
    if (!st.errors.Summary().empty()) {
      spdlog::info("{}: {}", SettingsName(s), st.errors.Summary());
    }
  }
}

}  // namespace

std::map<std::string, Scenario> RegisterChurnBenchmarks(
    const std::vector<Scenario>& matrix) {
  std::map<std::string, Scenario> by_name;
  for (const Scenario& s : matrix) {
    std::string name = "BM_Churn/" + SettingsName(s);
    benchmark::RegisterBenchmark(name.c_str(), BM_Churn, s)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    by_name.emplace(name, s);
  }
  return by_name;
}

}  // namespace twbench
