// The time-series sampler: a thread of its own with its own uv_loop_t and a
// repeating uv_timer that, every interval, reads the engine's LiveCounters
// and counts the run's sockets by TCP state (one netlink dump per family and
// namespace), into a buffer allocated before the run.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "twbench/live_counters.h"
#include "twbench/socket_census.h"
#include "twbench/unique_fd.h"

namespace twbench {

class NetNamespace;

// One row of the time series. Census fields are -1 where the census failed.
struct Sample {
  double t_s = 0;  // seconds since Sampler::Start
  std::uint64_t attempted = 0;
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;
  std::uint64_t connect_errors = 0;
  std::uint64_t bind_failures = 0;
  std::uint64_t restarts = 0;
  std::int64_t time_wait = 0;
  std::int64_t established = 0;
  std::int64_t fin_wait1 = 0;
  std::int64_t fin_wait2 = 0;
  std::int64_t close_wait = 0;
  std::int64_t last_ack = 0;
};

struct SamplerSettings {
  int interval_ms = 100;  // > 0
  // Samples kept; ticks beyond it are counted as dropped, not stored.
  std::size_t capacity = 1024;
  bool ipv4 = true;  // the address families counted
  bool ipv6 = true;
  // The namespaces counted and summed (e.g. veth: client and server). Empty:
  // the namespace of the thread that calls Start.
  std::vector<const NetNamespace*> namespaces;
  // A shared (host) namespace: count only sockets whose local or remote port
  // is LiveCounters::server_port, and none before the engine published it.
  bool filter_by_server_port = false;
};

// What the sampler did, for logs and tests. Valid after Stop.
struct SamplerReport {
  std::uint64_t ticks = 0;          // samples taken, the final one included
  std::uint64_t dropped = 0;        // taken when the buffer was full
  std::string census_error;         // first census failure ("" if none)
  std::uint64_t tick_ns_total = 0;  // time spent taking samples
  std::uint64_t tick_ns_max = 0;
  std::uint64_t last_tick_ns = 0;  // the final sample's cost
  double cpu_s = 0;        // the sampler thread's CPU time, user + system
  int loop_close_rc = -1;  // uv_loop_close; 0 when every handle closed
  int handles_closed = 0;  // close callbacks run (2: timer, async)
};

// Enough samples for a run of `seconds` at `interval_ms`, plus slack for the
// time the run's end and its census take; at most kMaxSamples.
inline constexpr std::size_t kMaxSamples = std::size_t{1} << 20;
std::size_t SampleCapacity(double seconds, int interval_ms);

class Sampler {
 public:
  // `live` must outlive the sampler; it is only read.
  Sampler(SamplerSettings settings, const LiveCounters& live);
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;
  ~Sampler();  // stops the sampler if it runs

  // Starts the thread: it enters the namespaces, opens one census socket in
  // each, takes the first sample at once and then one per interval. Returns
  // "" or why it could not start (then nothing runs).
  std::string Start();
  // Wakes the loop (uv_async), which takes the final sample, closes its
  // handles and ends; joins the thread. Does nothing when not running.
  void Stop();

  const std::vector<Sample>& samples() const { return samples_; }
  const SamplerReport& report() const { return report_; }

 private:
  static void OnTick(uv_timer_t* timer);
  static void OnStop(uv_async_t* async);
  static void OnClosed(uv_handle_t* handle);
  void Run(std::promise<std::string>& started);
  std::string OpenCensusSockets();
  void TakeSample();
  void Census(Sample& sample);

  SamplerSettings settings_;
  const LiveCounters& live_;
  std::vector<Sample> samples_;
  SamplerReport report_;
  std::uint64_t start_ns_ = 0;
  std::thread thread_;
  uv_loop_t loop_{};
  uv_timer_t timer_{};
  uv_async_t stop_{};
  bool census_failed_ = false;
  // One per namespace counted; made and used by the sampler thread only.
  std::vector<std::unique_ptr<CensusSocket>> sockets_;
  // The namespaces' /proc/net/sockstat, opened in each (a proc file keeps the
  // namespace it was opened in), when they are the run's own: their `tw` is
  // then the run's TIME_WAIT count at constant cost, and the netlink dump
  // leaves TIME_WAIT out. Empty when filtering by port (a shared namespace).
  std::vector<UniqueFd> sockstat_;
};

}  // namespace twbench
