#include "twbench/churn_stats.h"

#include <uv.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#include "twbench/error_name.h"

namespace twbench {

const char* ToString(Step step) {
  switch (step) {
    case Step::kConnect:
      return "connect";
    case Step::kAccept:
      return "accept";
    case Step::kRead:
      return "read";
    case Step::kWrite:
      return "write";
    case Step::kBind:
      return "bind";
    case Step::kListen:
      return "listen";
    case Step::kSetup:
      return "setup";
  }
  return "?";
}

void ErrorCounts::Add(Step step, int uv_err, std::uint64_t n) {
  AddNamed(step, UvErrorName(uv_err), n);
}

void ErrorCounts::AddNamed(Step step, const std::string& name,
                           std::uint64_t n) {
  by_step_[static_cast<int>(step)][name] += n;
}

void ErrorCounts::Merge(const ErrorCounts& other) {
  for (int i = 0; i < kStepCount; ++i) {
    for (const auto& [name, n] : other.by_step_[i]) by_step_[i][name] += n;
  }
}

std::uint64_t ErrorCounts::Total() const {
  std::uint64_t total = 0;
  for (int i = 0; i < kStepCount; ++i) total += AtStep(static_cast<Step>(i));
  return total;
}

std::uint64_t ErrorCounts::AtStep(Step step) const {
  std::uint64_t total = 0;
  for (const auto& [name, n] : by_step_[static_cast<int>(step)]) total += n;
  return total;
}

std::uint64_t ErrorCounts::ByName(const std::string& name) const {
  std::uint64_t total = 0;
  for (int i = 0; i < kStepCount; ++i) total += At(static_cast<Step>(i), name);
  return total;
}

std::uint64_t ErrorCounts::At(Step step, const std::string& name) const {
  const auto& m = by_step_[static_cast<int>(step)];
  auto it = m.find(name);
  return it == m.end() ? 0 : it->second;
}

std::string ErrorCounts::Summary() const {
  std::string out;
  for (int i = 0; i < kStepCount; ++i) {
    for (const auto& [name, n] : by_step_[i]) {
      if (!out.empty()) out += ' ';
      out += ToString(static_cast<Step>(i));
      out += ':' + name + '=' + std::to_string(n);
    }
  }
  return out;
}

namespace {
// Values below 2^kSubBits land in exact buckets; above, each power of two
// is split into 2^kSubBits linear sub-buckets.
constexpr int kSubBits = 5;
constexpr std::uint64_t kSub = 1ull << kSubBits;
constexpr int kBucketCount = (64 - kSubBits + 1) * kSub;

int BucketOf(std::uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  int top = 63 - std::countl_zero(v);  // >= kSubBits
  int shift = top - kSubBits;
  auto sub = static_cast<int>((v >> shift) & (kSub - 1));
  return (shift + 1) * static_cast<int>(kSub) + sub;
}

// The middle of a bucket's value range: the value a percentile reports.
std::uint64_t BucketMid(int bucket) {
  if (bucket < static_cast<int>(kSub))
    return static_cast<std::uint64_t>(bucket);
  int shift = bucket / static_cast<int>(kSub) - 1;
  std::uint64_t sub = static_cast<std::uint64_t>(bucket) % kSub;
  std::uint64_t low = (kSub | sub) << shift;
  return low + ((1ull << shift) >> 1);
}
}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBucketCount, 0) {}

void LatencyHistogram::Record(std::uint64_t ns) {
  ++buckets_[BucketOf(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the q-quantile, 1-based (nearest-rank definition).
  auto rank =
      static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(BucketMid(i), min_, max_);
  }
  return max_;
}

bool LatencyHistogram::Restore(std::vector<std::uint64_t> buckets,
                               std::uint64_t sum_ns, std::uint64_t min_ns,
                               std::uint64_t max_ns) {
  if (buckets.size() != buckets_.size()) return false;
  std::uint64_t count = 0;
  for (std::uint64_t n : buckets) count += n;
  if (count > 0 && min_ns > max_ns) return false;
  buckets_ = std::move(buckets);
  count_ = count;
  sum_ = sum_ns;
  min_ = count > 0 ? min_ns : ~0ull;
  max_ = count > 0 ? max_ns : 0;
  return true;
}

namespace {
template <typename T>
void KeepFirstSet(T& mine, T other) {
  if (mine < 0) mine = other;
}
}  // namespace

void ClientStats::Merge(const ClientStats& o) {
  attempted += o.attempted;
  completed += o.completed;
  connected += o.connected;
  resets += o.resets;
  unfinished += o.unfinished;
  seconds = std::max(seconds, o.seconds);
  hit_time_limit = hit_time_limit || o.hit_time_limit;
  errors.Merge(o.errors);
  latency.Merge(o.latency);
  // Every established connection was noted once: as new or as a reuse.
  const std::uint64_t noted = client_ports_distinct + tuple_reuses +
                              o.client_ports_distinct + o.tuple_reuses;
  if (ports_seen.size() < o.ports_seen.size()) {
    ports_seen.resize(o.ports_seen.size());
  }
  client_ports_distinct = 0;
  for (std::size_t i = 0; i < ports_seen.size(); ++i) {
    if (i < o.ports_seen.size()) ports_seen[i] |= o.ports_seen[i];
    client_ports_distinct += ports_seen[i].count();
  }
  tuple_reuses = noted - client_ports_distinct;
  cpu_user_ns += o.cpu_user_ns;
  cpu_sys_ns += o.cpu_sys_ns;
  client_bind_failures += o.client_bind_failures;
  client_bind_eaddrinuse += o.client_bind_eaddrinuse;
  if (o.first_connect_failure_s &&
      (!first_connect_failure_s ||
       *o.first_connect_failure_s < *first_connect_failure_s)) {
    first_connect_failure_s = o.first_connect_failure_s;
  }
  completed_before_failure += o.completed_before_failure;
  KeepFirstSet(client_reuseaddr, o.client_reuseaddr);
}

void ClientStats::MergeOtherHost(const ClientStats& o) {
  std::vector<std::bitset<65536>> ports = std::move(ports_seen);
  const std::uint64_t distinct =
      client_ports_distinct + o.client_ports_distinct;
  const std::uint64_t reuses = tuple_reuses + o.tuple_reuses;
  ports.insert(ports.end(), o.ports_seen.begin(), o.ports_seen.end());
  ClientStats rest = o;
  rest.ports_seen.clear();
  rest.client_ports_distinct = rest.tuple_reuses = 0;
  ports_seen.clear();
  client_ports_distinct = tuple_reuses = 0;
  Merge(rest);  // every other field, as for another loop
  ports_seen = std::move(ports);
  client_ports_distinct = distinct;
  tuple_reuses = reuses;
}

std::uint64_t ClientStats::addrs_used() const {
  std::uint64_t n = 0;
  for (const auto& ports : ports_seen) n += ports.any() ? 1 : 0;
  return n;
}

void ServerStats::Merge(const ServerStats& o) {
  accepted += o.accepted;
  server_forced_closes += o.server_forced_closes;
  errors.Merge(o.errors);
  KeepFirstSet(listener_reuseaddr, o.listener_reuseaddr);
  KeepFirstSet(listener_reuseport, o.listener_reuseport);
  if (!rebind.attempted) rebind = o.rebind;
  restarts += o.restarts;
  restarts_failed += o.restarts_failed;
  restart_downtime.Merge(o.restart_downtime);
  server_down_ns += o.server_down_ns;
  accept_queue_lost += o.accept_queue_lost;
  KeepFirstSet(restart_reuseaddr, o.restart_reuseaddr);
  accept_pauses += o.accept_pauses;
  drain_waited_for_accepts =
      drain_waited_for_accepts || o.drain_waited_for_accepts;
  cpu_user_ns += o.cpu_user_ns;
  cpu_sys_ns += o.cpu_sys_ns;
}

ErrorCounts ChurnStats::errors() const {
  ErrorCounts all = client.errors;
  all.Merge(server.errors);
  return all;
}

std::uint64_t ChurnStats::not_accepted() const {
  const std::uint64_t accounted = server.accepted + server.accept_queue_lost;
  return client.connected > accounted ? client.connected - accounted : 0;
}

double ChurnStats::accept_share_min() const {
  std::uint64_t total = 0;
  std::uint64_t least = ~0ull;
  for (std::uint64_t n : accepted_per_loop) {
    total += n;
    least = std::min(least, n);
  }
  return total == 0 ? 0.0
                    : static_cast<double>(least) / static_cast<double>(total);
}

double ChurnStats::accept_share_max() const {
  std::uint64_t total = 0;
  std::uint64_t most = 0;
  for (std::uint64_t n : accepted_per_loop) {
    total += n;
    most = std::max(most, n);
  }
  return total == 0 ? 0.0
                    : static_cast<double>(most) / static_cast<double>(total);
}

double ChurnStats::cpu_user_s() const {
  return static_cast<double>(client.cpu_user_ns + server.cpu_user_ns) / 1e9;
}

double ChurnStats::cpu_sys_s() const {
  return static_cast<double>(client.cpu_sys_ns + server.cpu_sys_ns) / 1e9;
}

}  // namespace twbench
