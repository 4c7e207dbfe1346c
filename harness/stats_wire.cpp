// ChurnStats as bytes (twbench/stats_wire.h).
#include "twbench/stats_wire.h"

#include <bit>
#include <cstring>
#include <vector>

namespace twbench {
namespace {

// "TWBS", then the format's version: bump it with every change below.
constexpr std::uint64_t kMagic = 0x53425754;
constexpr std::uint64_t kVersion = 1;
constexpr std::uint64_t kPortBitsetBytes = sizeof(std::bitset<65536>);

// A new field in these structs must be added to Write and Read below; the
// sizes make the build fail until it is (then update them).
static_assert(sizeof(ClientStats) == 552 || sizeof(void*) != 8,
              "ClientStats changed: add the field to stats_wire.cpp");
static_assert(sizeof(ServerStats) == 552 || sizeof(void*) != 8,
              "ServerStats changed: add the field to stats_wire.cpp");

void Write(WireWriter& w, const ErrorCounts& e) {
  for (const auto& step : e.table()) {
    w.U64(step.size());
    for (const auto& [name, n] : step) {
      w.Str(name);
      w.U64(n);
    }
  }
}

bool Read(WireReader& r, ErrorCounts* e) {
  for (int i = 0; i < kStepCount; ++i) {
    std::uint64_t names = 0;
    if (!r.U64(&names)) return false;
    for (std::uint64_t k = 0; k < names; ++k) {
      std::string name;
      std::uint64_t n = 0;
      if (!r.Str(&name) || !r.U64(&n)) return false;
      e->AddNamed(static_cast<Step>(i), name, n);
    }
  }
  return true;
}

void Write(WireWriter& w, const LatencyHistogram& h) {
  w.U64(h.buckets().size());
  for (std::uint64_t n : h.buckets()) w.U64(n);
  w.U64(h.sum_ns());
  w.U64(h.min_ns());
  w.U64(h.max_ns());
}

bool Read(WireReader& r, LatencyHistogram* h) {
  std::uint64_t size = 0;
  if (!r.U64(&size) || size != h->buckets().size()) return false;
  std::vector<std::uint64_t> buckets(size);
  for (std::uint64_t& n : buckets) {
    if (!r.U64(&n)) return false;
  }
  std::uint64_t sum = 0, min = 0, max = 0;
  return r.U64(&sum) && r.U64(&min) && r.U64(&max) &&
         h->Restore(std::move(buckets), sum, min, max);
}

void WriteInt(WireWriter& w, int v) { w.I64(v); }
bool ReadInt(WireReader& r, int* v) {
  std::int64_t x = 0;
  if (!r.I64(&x)) return false;
  *v = static_cast<int>(x);
  return true;
}

void Write(WireWriter& w, const ClientStats& c) {
  w.U64(c.attempted);
  w.U64(c.completed);
  w.U64(c.connected);
  w.U64(c.resets);
  w.U64(c.unfinished);
  w.F64(c.seconds);
  w.Bool(c.hit_time_limit);
  Write(w, c.errors);
  Write(w, c.latency);
  w.U64(c.client_ports_distinct);
  w.U64(c.tuple_reuses);
  w.U64(c.ports_seen.size());
  for (const auto& ports : c.ports_seen) {
    char bytes[kPortBitsetBytes];
    std::memcpy(bytes, &ports, sizeof bytes);
    w.Str(std::string_view(bytes, sizeof bytes));
  }
  w.U64(c.cpu_user_ns);
  w.U64(c.cpu_sys_ns);
  w.U64(c.client_bind_failures);
  w.U64(c.client_bind_eaddrinuse);
  w.Bool(c.first_connect_failure_s.has_value());
  w.F64(c.first_connect_failure_s.value_or(0));
  w.U64(c.completed_before_failure);
  WriteInt(w, c.client_reuseaddr);
}

bool Read(WireReader& r, ClientStats* c) {
  std::uint64_t addrs = 0;
  bool failure_seen = false;
  double failure_s = 0;
  const bool ok = r.U64(&c->attempted) && r.U64(&c->completed) &&
                  r.U64(&c->connected) && r.U64(&c->resets) &&
                  r.U64(&c->unfinished) && r.F64(&c->seconds) &&
                  r.Bool(&c->hit_time_limit) && Read(r, &c->errors) &&
                  Read(r, &c->latency) && r.U64(&c->client_ports_distinct) &&
                  r.U64(&c->tuple_reuses) && r.U64(&addrs) && addrs <= 65536;
  if (!ok) return false;
  c->ports_seen.assign(addrs, {});
  for (auto& ports : c->ports_seen) {
    std::string bytes;
    if (!r.Str(&bytes) || bytes.size() != kPortBitsetBytes) return false;
    std::memcpy(&ports, bytes.data(), kPortBitsetBytes);
  }
  if (!(r.U64(&c->cpu_user_ns) && r.U64(&c->cpu_sys_ns) &&
        r.U64(&c->client_bind_failures) && r.U64(&c->client_bind_eaddrinuse) &&
        r.Bool(&failure_seen) && r.F64(&failure_s) &&
        r.U64(&c->completed_before_failure) &&
        ReadInt(r, &c->client_reuseaddr))) {
    return false;
  }
  if (failure_seen) c->first_connect_failure_s = failure_s;
  return true;
}

void Write(WireWriter& w, const RebindResult& b) {
  w.Bool(b.attempted);
  w.Bool(b.bound);
  w.U64(static_cast<std::uint64_t>(b.failed_step));
  WriteInt(w, b.error);
  w.Str(b.blockers);
  w.U64(b.wait_ns);
  w.Bool(b.wait_settled);
}

bool Read(WireReader& r, RebindResult* b) {
  std::uint64_t step = 0;
  if (!(r.Bool(&b->attempted) && r.Bool(&b->bound) && r.U64(&step) &&
        step < kStepCount && ReadInt(r, &b->error) && r.Str(&b->blockers) &&
        r.U64(&b->wait_ns) && r.Bool(&b->wait_settled))) {
    return false;
  }
  b->failed_step = static_cast<Step>(step);
  return true;
}

void Write(WireWriter& w, const ServerStats& s) {
  w.U64(s.accepted);
  w.U64(s.server_forced_closes);
  Write(w, s.errors);
  WriteInt(w, s.listener_reuseaddr);
  WriteInt(w, s.listener_reuseport);
  Write(w, s.rebind);
  w.U64(s.restarts);
  w.U64(s.restarts_failed);
  Write(w, s.restart_downtime);
  w.U64(s.server_down_ns);
  w.U64(s.accept_queue_lost);
  WriteInt(w, s.restart_reuseaddr);
  w.U64(s.accept_pauses);
  w.Bool(s.drain_waited_for_accepts);
  w.U64(s.cpu_user_ns);
  w.U64(s.cpu_sys_ns);
}

bool Read(WireReader& r, ServerStats* s) {
  return r.U64(&s->accepted) && r.U64(&s->server_forced_closes) &&
         Read(r, &s->errors) && ReadInt(r, &s->listener_reuseaddr) &&
         ReadInt(r, &s->listener_reuseport) && Read(r, &s->rebind) &&
         r.U64(&s->restarts) && r.U64(&s->restarts_failed) &&
         Read(r, &s->restart_downtime) && r.U64(&s->server_down_ns) &&
         r.U64(&s->accept_queue_lost) && ReadInt(r, &s->restart_reuseaddr) &&
         r.U64(&s->accept_pauses) && r.Bool(&s->drain_waited_for_accepts) &&
         r.U64(&s->cpu_user_ns) && r.U64(&s->cpu_sys_ns);
}

// The build's shape: byte order, histogram size and port bitset size.
std::uint64_t Shape() {
  const std::uint64_t little = std::endian::native == std::endian::little;
  return little | LatencyHistogram().buckets().size() << 1 |
         kPortBitsetBytes << 32;
}

}  // namespace

void WireWriter::U64(std::uint64_t v) {
  char bytes[sizeof v];
  std::memcpy(bytes, &v, sizeof v);
  out_.append(bytes, sizeof v);
}

void WireWriter::F64(double v) { U64(std::bit_cast<std::uint64_t>(v)); }

void WireWriter::Str(std::string_view s) {
  U64(s.size());
  out_.append(s);
}

bool WireReader::U64(std::uint64_t* v) {
  if (!ok_ || in_.size() < sizeof *v) return ok_ = false;
  std::memcpy(v, in_.data(), sizeof *v);
  in_.remove_prefix(sizeof *v);
  return true;
}

bool WireReader::I64(std::int64_t* v) {
  std::uint64_t x = 0;
  if (!U64(&x)) return false;
  *v = static_cast<std::int64_t>(x);
  return true;
}

bool WireReader::F64(double* v) {
  std::uint64_t x = 0;
  if (!U64(&x)) return false;
  *v = std::bit_cast<double>(x);
  return true;
}

bool WireReader::Bool(bool* v) {
  std::uint64_t x = 0;
  if (!U64(&x) || x > 1) return ok_ = false;
  *v = x == 1;
  return true;
}

bool WireReader::Str(std::string* s) {
  std::uint64_t n = 0;
  if (!U64(&n) || in_.size() < n) return ok_ = false;
  s->assign(in_.data(), n);
  in_.remove_prefix(n);
  return true;
}

void Write(WireWriter& w, const ChurnStats& st) {
  w.U64(kMagic);
  w.U64(kVersion);
  w.U64(Shape());
  Write(w, st.client);
  Write(w, st.server);
  w.U64(st.server_port);
  w.U64(st.accepted_per_loop.size());
  for (std::uint64_t n : st.accepted_per_loop) w.U64(n);
  w.Str(st.fatal);
}

bool Read(WireReader& r, ChurnStats* st) {
  std::uint64_t magic = 0, version = 0, shape = 0, port = 0, loops = 0;
  if (!(r.U64(&magic) && magic == kMagic && r.U64(&version) &&
        version == kVersion && r.U64(&shape) && shape == Shape() &&
        Read(r, &st->client) && Read(r, &st->server) && r.U64(&port) &&
        port <= 65535 && r.U64(&loops) && loops <= 65536)) {
    return false;
  }
  st->server_port = static_cast<std::uint16_t>(port);
  st->accepted_per_loop.assign(loops, 0);
  for (std::uint64_t& n : st->accepted_per_loop) {
    if (!r.U64(&n)) return false;
  }
  return r.Str(&st->fatal);
}

std::string PackChurnStats(const ChurnStats& st) {
  WireWriter w;
  Write(w, st);
  return w.Take();
}

std::optional<ChurnStats> UnpackChurnStats(std::string_view bytes) {
  WireReader r(bytes);
  ChurnStats st;
  if (!Read(r, &st) || !r.at_end()) return std::nullopt;
  return st;
}

}  // namespace twbench
