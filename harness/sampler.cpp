// The sampler's thread: its own loop, a repeating timer for the ticks and an
// async handle through which Stop reaches the loop from another thread.
#include "twbench/sampler.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <utility>

#include "spdlog/spdlog.h"
#include "twbench/error_name.h"
#include "twbench/kernel_counters.h"
#include "twbench/netns.h"

namespace twbench {
namespace {

// The states of the time series, counted in one dump per family.
constexpr std::uint32_t kSampledStates =
    StateBit(TcpState::kTimeWait) | StateBit(TcpState::kEstablished) |
    StateBit(TcpState::kFinWait1) | StateBit(TcpState::kFinWait2) |
    StateBit(TcpState::kCloseWait) | StateBit(TcpState::kLastAck);

// After the churn the run's census waits up to 2 s per query for sockets to
// settle (bench/bm_churn.cpp), and the sampler is stopped after it.
constexpr double kSlackSeconds = 5.0;
constexpr std::size_t kSlackSamples = 16;

void SetCensus(Sample& s, std::int64_t value) {
  s.time_wait = s.established = s.fin_wait1 = s.fin_wait2 = s.close_wait =
      s.last_ack = value;
}

std::int64_t Count(const TcpStateCounts& c, TcpState state) {
  return static_cast<std::int64_t>(c[state]);
}

// `tw` of a /proc/net/sockstat opened earlier; pread at offset 0 makes the
// seq_file render it afresh (the text is parsed as kernel_counters does).
std::int64_t SockstatTimeWait(int fd) {
  char text[1024];
  const ssize_t n = pread(fd, text, sizeof(text), 0);
  if (n <= 0) throw std::runtime_error("sampler: read sockstat failed");
  return static_cast<std::int64_t>(
      ParseSockstat(std::string(text, static_cast<std::size_t>(n))).tw);
}

// Setup on a loop this thread just made cannot fail but by a bug.
void CheckUv(int rc, const char* call) {
  if (rc != 0) {
    spdlog::critical("sampler: {} failed: {}", call, UvErrorName(rc));
    std::abort();
  }
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

std::size_t SampleCapacity(double seconds, int interval_ms) {
  if (interval_ms <= 0) return 0;
  const double ticks =
      std::ceil((seconds + kSlackSeconds) * 1000.0 / interval_ms);
  if (!(ticks < static_cast<double>(kMaxSamples))) return kMaxSamples;
  return std::min(kMaxSamples, static_cast<std::size_t>(ticks) + kSlackSamples);
}

Sampler::Sampler(SamplerSettings settings, const LiveCounters& live)
    : settings_(std::move(settings)), live_(live) {}

Sampler::~Sampler() { Stop(); }

std::string Sampler::Start() {
  if (thread_.joinable()) return "sampler already running";
  if (settings_.interval_ms <= 0) return "sampler interval must be > 0 ms";
  samples_.clear();
  // The only allocation for samples: a tick past it is dropped, not grown.
  samples_.reserve(settings_.capacity);
  report_ = {};
  census_failed_ = false;
  start_ns_ = uv_hrtime();
  std::promise<std::string> started;
  std::future<std::string> result = started.get_future();
  thread_ = std::thread([this, &started] { Run(started); });
  std::string why = result.get();
  if (!why.empty()) thread_.join();
  return why;
}

void Sampler::Stop() {
  if (!thread_.joinable()) return;
  // The only libuv call that is safe from another thread.
  CheckUv(uv_async_send(&stop_), "uv_async_send");
  thread_.join();
}

// A census socket belongs to the namespace of the thread that made it, so
// one socket per namespace lets every tick count both ends of a veth run
// without a setns per tick.
std::string Sampler::OpenCensusSockets() {
  try {
    // In the calling thread's namespace, or in each given one.
    auto open_here = [this] {
      sockets_.push_back(std::make_unique<CensusSocket>());
      if (settings_.filter_by_server_port) return;
      UniqueFd fd(open("/proc/thread-self/net/sockstat", O_RDONLY | O_CLOEXEC));
      if (!fd) throw std::runtime_error("open /proc/thread-self/net/sockstat");
      sockstat_.push_back(std::move(fd));
    };
    if (settings_.namespaces.empty()) open_here();
    for (const NetNamespace* ns : settings_.namespaces) {
      std::string why;
      if (!Enter(*ns, &why)) return "sampler: setns: " + why;
      open_here();
    }
  } catch (const std::exception& e) {
    return std::string("sampler: ") + e.what();
  }
  return {};
}

void Sampler::Run(std::promise<std::string>& started) {
  // The census walks the kernel's whole TCP hash (262144 buckets here,
  // shared by every namespace) for a few ms per tick. SCHED_IDLE lets the
  // churn's threads preempt that walk, so sampling costs the churn idle CPU,
  // not its tail latency; a late tick is stamped with its real time.
  sched_param idle{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0) {
    spdlog::debug("sampler: SCHED_IDLE refused; sampling at normal priority");
  }
  std::string why = OpenCensusSockets();
  if (why.empty()) {
    if (int rc = uv_loop_init(&loop_); rc != 0) {
      why = std::string("sampler: uv_loop_init: ") + UvErrorName(rc);
    }
  }
  if (!why.empty()) {
    sockets_.clear();
    sockstat_.clear();
    started.set_value(why);
    return;
  }
  CheckUv(uv_timer_init(&loop_, &timer_), "uv_timer_init");
  CheckUv(uv_async_init(&loop_, &stop_, OnStop), "uv_async_init");
  timer_.data = this;
  stop_.data = this;
  // Timeout 0: the first sample at once, as the churn starts.
  CheckUv(uv_timer_start(&timer_, OnTick, 0,
                         static_cast<std::uint64_t>(settings_.interval_ms)),
          "uv_timer_start");
  started.set_value({});  // `started` is gone once Start returns
  uv_run(&loop_, UV_RUN_DEFAULT);
  report_.loop_close_rc = uv_loop_close(&loop_);
  sockets_.clear();
  sockstat_.clear();
  // What sampling took from the churn's cores, the kernel's dumps included.
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) == 0) {
    report_.cpu_s = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
  }
}

void Sampler::OnTick(uv_timer_t* timer) {
  static_cast<Sampler*>(timer->data)->TakeSample();
}

void Sampler::OnStop(uv_async_t* async) {
  auto* self = static_cast<Sampler*>(async->data);
  self->TakeSample();  // the final one, after the churn's last count
  uv_timer_stop(&self->timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->timer_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), OnClosed);
}

void Sampler::OnClosed(uv_handle_t* handle) {
  // The handles are members: their memory lives as long as the sampler.
  ++static_cast<Sampler*>(handle->data)->report_.handles_closed;
}

void Sampler::TakeSample() {
  const std::uint64_t t0 = uv_hrtime();
  Sample s;
  s.t_s = static_cast<double>(t0 - start_ns_) / 1e9;
  const LiveTotals live = live_.Sum();  // every loop's block
  s.attempted = live.attempted;
  s.completed = live.completed;
  s.errors = live.errors;
  s.connect_errors = live.connect_errors;
  // Every failed bind() so far, as the results row counts them: the
  // listeners' (server loops) and the clients' (client loops).
  s.bind_failures = live.bind_failures + live.client_bind_failures;
  s.restarts = live.restarts;
  Census(s);
  const std::uint64_t cost = uv_hrtime() - t0;
  ++report_.ticks;
  report_.tick_ns_total += cost;
  report_.tick_ns_max = std::max(report_.tick_ns_max, cost);
  report_.last_tick_ns = cost;
  if (samples_.size() < samples_.capacity()) {
    samples_.push_back(s);
  } else {
    ++report_.dropped;
  }
}

void Sampler::Census(Sample& s) {
  if (census_failed_) {
    SetCensus(s, -1);
    return;
  }
  CensusQuery q;
  // With the namespaces' own sockstat, TIME_WAIT (most of the sockets) is
  // read there; the dump then only emits the few sockets in other states.
  const bool tw_from_sockstat = !sockstat_.empty();
  q.states = tw_from_sockstat ? kSampledStates & ~StateBit(TcpState::kTimeWait)
                              : kSampledStates;
  q.ipv4 = settings_.ipv4;
  q.ipv6 = settings_.ipv6;
  TcpStateCounts counts;
  try {
    if (settings_.filter_by_server_port) {
      const std::uint16_t port =
          live_.server_port.load(std::memory_order_relaxed);
      if (port == 0) {  // no listener yet: the run has no sockets
        SetCensus(s, 0);
        return;
      }
      // The census ANDs two port filters; local OR remote takes two dumps.
      for (auto& socket : sockets_) {
        q.local_port = port;
        q.remote_port.reset();
        socket->CountInto(q, &counts);
        q.local_port.reset();
        q.remote_port = port;
        socket->CountInto(q, &counts);
      }
    } else {
      for (auto& socket : sockets_) socket->CountInto(q, &counts);
    }
    if (tw_from_sockstat) {
      std::int64_t tw = 0;
      for (const UniqueFd& fd : sockstat_) tw += SockstatTimeWait(fd.get());
      s.time_wait = tw;
    }
  } catch (const std::exception& e) {
    // Never thrown across the libuv callback; the series says "unknown".
    census_failed_ = true;
    report_.census_error = e.what();
    SetCensus(s, -1);
    return;
  }
  if (!tw_from_sockstat) s.time_wait = Count(counts, TcpState::kTimeWait);
  s.established = Count(counts, TcpState::kEstablished);
  s.fin_wait1 = Count(counts, TcpState::kFinWait1);
  s.fin_wait2 = Count(counts, TcpState::kFinWait2);
  s.close_wait = Count(counts, TcpState::kCloseWait);
  s.last_ack = Count(counts, TcpState::kLastAck);
}

}  // namespace twbench
