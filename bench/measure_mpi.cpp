// One churn run across the ranks of an MPI job (bench/measure_mpi.h). Only
// this (main) thread calls MPI; the loop threads run in the rank's
// namespace meanwhile.
#include "measure_mpi.h"

#include <algorithm>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mpi_job.h"
#include "stop_signal.h"
#include "twbench/churn.h"
#include "twbench/listener.h"
#include "twbench/netns.h"
#include "twbench/run_clock.h"
#include "twbench/source_addresses.h"
#include "twbench/stats_wire.h"

namespace twbench {
namespace {

// "TWBM", then the version of what follows a rank's ChurnStats on the wire:
// bump it with every change to WriteExtras and ReadExtras.
constexpr std::uint64_t kExtrasMagic = 0x4d425754;
constexpr std::uint64_t kExtrasVersion = 1;
// A new field in these makes the build fail until it travels (then update).
static_assert(sizeof(Census) == 24, "Census changed: add it to the wire");
static_assert(sizeof(TcpExtCounters) == 48,
              "TcpExtCounters changed: add it to the wire");
static_assert(sizeof(TcpKnobValues) == 28,
              "TcpKnobValues changed: add it to the wire");

void WriteExtras(WireWriter& w, const Measured& m) {
  w.U64(kExtrasMagic);
  w.U64(kExtrasVersion);
  w.U64(m.census.server);
  w.U64(m.census.client);
  w.Bool(m.census.settled);
  for (std::uint64_t v : {m.tcpext.tw, m.tcpext.tw_recycled, m.tcpext.tw_killed,
                          m.tcpext.tw_overflow, m.tcpext.listen_overflows,
                          m.tcpext.listen_drops, m.out_rsts, m.abort_rsts}) {
    w.U64(v);
  }
  const TcpKnobValues& k = m.knobs;
  w.Bool(k.tw_reuse_delay_ms.has_value());
  for (int v : {k.tw_reuse, k.tw_reuse_delay_ms.value_or(0), k.port_min,
                k.port_max, k.max_tw_buckets, k.rfc1337}) {
    w.I64(v);
  }
  w.Bool(m.sockstat_tw.has_value());
  w.U64(m.sockstat_tw.value_or(0));
  w.U64(m.time_wait_at_start);
  w.Bool(m.isolated);
  w.Str(m.error);
}

bool ReadExtras(WireReader& r, Measured* m) {
  std::uint64_t magic = 0, version = 0;
  if (!(r.U64(&magic) && magic == kExtrasMagic && r.U64(&version) &&
        version == kExtrasVersion && r.U64(&m->census.server) &&
        r.U64(&m->census.client) && r.Bool(&m->census.settled))) {
    return false;
  }
  for (std::uint64_t* v :
       {&m->tcpext.tw, &m->tcpext.tw_recycled, &m->tcpext.tw_killed,
        &m->tcpext.tw_overflow, &m->tcpext.listen_overflows,
        &m->tcpext.listen_drops, &m->out_rsts, &m->abort_rsts}) {
    if (!r.U64(v)) return false;
  }
  bool has_delay = false, has_sockstat = false;
  std::int64_t knobs[6] = {};
  if (!r.Bool(&has_delay)) return false;
  for (std::int64_t& v : knobs) {
    if (!r.I64(&v)) return false;
  }
  TcpKnobValues& k = m->knobs;
  k.tw_reuse = static_cast<int>(knobs[0]);
  if (has_delay) k.tw_reuse_delay_ms = static_cast<int>(knobs[1]);
  k.port_min = static_cast<int>(knobs[2]);
  k.port_max = static_cast<int>(knobs[3]);
  k.max_tw_buckets = static_cast<int>(knobs[4]);
  k.rfc1337 = static_cast<int>(knobs[5]);
  std::uint64_t sockstat = 0;
  if (!(r.Bool(&has_sockstat) && r.U64(&sockstat) &&
        r.U64(&m->time_wait_at_start) && r.Bool(&m->isolated) &&
        r.Str(&m->error))) {
    return false;
  }
  if (has_sockstat) m->sockstat_tw = sockstat;
  return true;
}

std::string Pack(const Measured& m) {
  WireWriter w;
  Write(w, m.stats);
  WriteExtras(w, m);
  return w.Take();
}

std::optional<Measured> Unpack(const std::string& bytes) {
  WireReader r(bytes);
  Measured m;
  if (!Read(r, &m.stats) || !ReadExtras(r, &m) || !r.at_end()) {
    return std::nullopt;
  }
  return m;
}

// What no rank can run: the same answer on every rank, before any
// collective, so no rank waits for another that skipped the run.
std::string NotInJob(const Scenario& s, const RunState& run) {
  if (std::string why = Validate(s); !why.empty()) return why;
  const std::string prefix = kNotRunPrefix;
  if (s.topology == Topology::kVeth) {
    return prefix +
           "topology veth is two namespaces of one process; in an MPI job "
           "the ranks are the hosts";
  }
  if (run.rank_netns == nullptr && AnyKnobSet(s.knobs)) {
    return prefix +
           "kernel knobs are set only in the ranks' own namespaces "
           "(--rank_netns); these ranks run in their hosts' namespaces";
  }
  if (s.client_addrs > 1 && run.server_addr.empty()) {
    return prefix +
           "client_addrs > 1 in an MPI job takes the client hosts' own "
           "addresses toward --server_addr; give --server_addr";
  }
  return "";
}

// A stop signal in the middle of a run: every rank got it and stops its
// side, so no rank's counts of this run can be gathered any more.
std::string InterruptedInJob() {
  return "interrupted (" + SignalName(StopSignal()) +
         ") in the MPI job: every rank stopped, so this run's counts were "
         "not gathered";
}

// Runs fn in the rank's namespace (a thread that enters it), or here.
void InRankNetns(const RunState& run, const std::function<void()>& fn) {
  if (run.rank_netns != nullptr) {
    RunIn(*run.rank_netns, fn);
  } else {
    fn();
  }
}

int ServerRank(const mpi::Job& job) {
  const auto it =
      std::find(job.roles.begin(), job.roles.end(), mpi::Role::kServer);
  return static_cast<int>(it - job.roles.begin());
}

// The client ranks before `rank`, and all of them.
std::pair<int, int> ClientIndex(const mpi::Job& job) {
  int index = 0, clients = 0;
  for (int r = 0; r < job.size; ++r) {
    if (job.roles[static_cast<std::size_t>(r)] != mpi::Role::kClient) continue;
    index += r < job.rank ? 1 : 0;
    ++clients;
  }
  return {index, clients};
}

// Where the listener binds and the clients connect; nullopt: loopback.
std::optional<sockaddr_storage> ServerAddress(const Scenario& s,
                                              const RunState& run,
                                              std::string* why) {
  if (run.server_addr.empty()) return std::nullopt;
  std::optional<sockaddr_storage> a =
      NumericAddress(s.family, run.server_addr, 0);
  if (!a) {
    *why = "--server_addr=" + run.server_addr + " is not an " +
           std::string(ToString(s.family)) + " address";
  }
  return a;
}

// Knobs set and read back in the rank's namespace, its TIME_WAIT and
// counters before the churn; false with m.error set.
bool Prepare(const Scenario& s, const RunState& run, Measured& m,
             Counters* before) {
  try {
    InRankNetns(run, [&] {
      if (std::string why = ApplyTcpKnobs(s.knobs); !why.empty()) {
        throw std::runtime_error("kernel knob: " + why);
      }
      m.knobs = ReadTcpKnobs();
      m.time_wait_at_start = ReadSockstat().tw;
      *before = ReadCounters();
    });
  } catch (const std::exception& e) {
    m.error = e.what();
  }
  return m.error.empty();
}

// This rank's side of the run's TIME_WAIT, its counter deltas and sockstat.
void CountSide(const Scenario& s, const RunState& run, bool server_side,
               const Counters& before, Measured& m) {
  // On a real host other sockets may use the same port number: only those
  // of the server's address are the run's (none: loopback, one namespace).
  std::string unused;
  const std::optional<sockaddr_storage> address =
      ServerAddress(s, run, &unused);
  try {
    InRankNetns(run, [&] {
      const SettledCounts c =
          CountRunTimeWait(s, m.stats.server_port, server_side, address);
      (server_side ? m.census.server : m.census.client) = c.counts.time_wait();
      m.census.settled = c.settled;
      AddDelta(m, ReadCounters(), before);
      m.sockstat_tw = ReadSockstat().tw;
    });
    m.isolated = run.rank_netns != nullptr;
  } catch (const std::exception& e) {
    m.error = e.what();
  }
}

// Clients are bounded by the run's time limit; the rest (set-up, the
// census's settle waits, the rebind) by a margin on top.
mpi::Wait WaitFor(const Scenario& s, const RunState& run) {
  return {*run.job, s.time_limit_s + s.connection_timeout_s + 60.0};
}

// The server rank: listen, tell the clients the port (0 with the reason
// when it cannot), serve until they have all reported, count.
void ServeRank(const Scenario& s, const RunState& run, Measured& m) {
  const mpi::Wait wait = WaitFor(s, run);
  const int root = ServerRank(*run.job);
  Counters before;
  std::string why;
  const std::optional<sockaddr_storage> address = ServerAddress(s, run, &why);
  const bool prepared = why.empty() && Prepare(s, run, m, &before);
  if (!why.empty()) m.stats.fatal = why;
  const Placement placement{nullptr, run.rank_netns, address, std::nullopt, {}};
  LiveCounters live;
  ChurnServerSide server(s, placement, &live, &m.stats);
  const bool up = prepared && m.stats.fatal.empty() && server.Setup();
  WireWriter w;
  w.U64(up ? server.port() : 0);
  w.Str(!m.error.empty() ? m.error : m.stats.fatal);
  if (!mpi::Bcast(wait, root, w.Take(), "the server's port")) {
    if (up) server.Abandon();
    m.error = InterruptedInJob();
    return;
  }
  if (up) server.Start();
  const std::optional<std::uint64_t> connected =
      mpi::ReduceSum(wait, root, 0, "the clients' churn");
  if (!connected) m.error = InterruptedInJob();
  if (!up) return;
  // The clients' clocks are other hosts': the end is this host's now.
  server.Finish(connected.value_or(0), NowNs());
  if (connected) CountSide(s, run, true, before, m);
}

// client_addrs > 1 on a client rank: the host's own addresses toward the
// server (the route's source first), read in the rank's namespace; fewer
// than client_addrs is this rank's fatal error, naming what it has.
std::vector<sockaddr_storage> HostSources(const Scenario& s,
                                          const RunState& run,
                                          const sockaddr_storage& server,
                                          std::string* fatal) {
  std::vector<sockaddr_storage> found;
  std::string why;
  InRankNetns(run, [&] { found = SourceAddressesToward(server, &why); });
  const auto k = static_cast<std::size_t>(s.client_addrs);
  if (why.empty() && found.size() < k) {
    why = "has " + std::to_string(found.size()) + " (";
    for (std::size_t i = 0; i < found.size(); ++i) {
      why += (i ? " " : "") + AddressText(found[i]);
    }
    why +=
        ") on its route to " + AddressText(server) + " and in the same prefix";
  }
  if (!why.empty()) {
    // MergeRanks names the rank.
    *fatal = "client_addrs " + std::to_string(k) + ": this host " + why;
    return {};
  }
  found.resize(k);
  return found;
}

// A client rank: its share of the budget and concurrency, to the port the
// server rank sent; a server that failed is this rank's error too.
void ChurnRank(const Scenario& s, const RunState& run, Measured& m) {
  const mpi::Wait wait = WaitFor(s, run);
  const int root = ServerRank(*run.job);
  Counters before;
  const bool prepared = Prepare(s, run, m, &before);
  const std::optional<std::string> sent =
      mpi::Bcast(wait, root, "", "the server's port");
  if (!sent) {
    m.error = InterruptedInJob();
    return;
  }
  WireReader r(*sent);
  std::uint64_t port = 0;
  std::string reason;
  if (!r.U64(&port) || !r.Str(&reason) || port == 0 || port > 65535) {
    m.stats.fatal = "the server rank could not listen: " + reason;
  }
  std::string why;
  std::optional<sockaddr_storage> server = ServerAddress(s, run, &why);
  if (!why.empty()) m.stats.fatal = why;
  const bool go = prepared && m.stats.fatal.empty();
  if (go) {
    m.stats.server_port = static_cast<std::uint16_t>(port);
    sockaddr_storage to =
        server.value_or(LoopbackAddress(s.family, m.stats.server_port));
    SetPort(to, m.stats.server_port);
    // Another host reaches the server through a routed address: the client
    // binds (client_bind=range) the wildcard, not loopback.
    Placement placement{
        run.rank_netns,
        nullptr,
        std::nullopt,
        server ? NumericAddress(s.family,
                                s.family == Family::kIPv4 ? "0.0.0.0" : "::", 0)
               : std::nullopt,
        {}};
    if (server && s.client_addrs > 1) {
      placement.client_sources = HostSources(s, run, to, &m.stats.fatal);
    }
    const auto [index, clients] = ClientIndex(*run.job);
    LiveCounters live;
    if (m.stats.fatal.empty()) {
      ChurnClientSide client(s, placement, to, run.stop, &live, &m.stats,
                             index * s.loops, clients * s.loops);
      if (client.Setup()) {
        client.Start();
        client.Join();
      }
    }
  }
  if (!mpi::ReduceSum(wait, root, m.stats.client.connected,
                      "the clients' churn")) {
    m.error = InterruptedInJob();
    return;
  }
  if (go && m.stats.fatal.empty()) CountSide(s, run, false, before, m);
}

// One rank's own counts, for <stem>.hosts.csv.
HostRow RowOf(int rank, const mpi::Job& job, const Measured& m) {
  const bool server =
      job.roles[static_cast<std::size_t>(rank)] == mpi::Role::kServer;
  const ClientStats& c = m.stats.client;
  return {rank,
          server ? "server" : "client",
          c.completed,
          c.attempted,
          c.connected,
          m.stats.server.accepted,
          c.seconds,
          m.stats.errors().Total(),
          server ? m.census.server : m.census.client,
          m.tcpext.tw,
          m.tcpext.tw_recycled,
          m.out_rsts,
          !m.stats.fatal.empty() ? m.stats.fatal : m.error};
}

// Rank 0: the job's row from every rank's side. The server's stats as they
// are; the clients' merged as other hosts; census and counters summed.
Measured MergeRanks(const mpi::Job& job, const std::vector<std::string>& all) {
  Measured out;
  out.hosts = job.size;
  out.isolated = true;
  out.census.settled = true;
  out.sockstat_tw = 0;
  bool knobs_read = false;
  const auto note = [](std::string& first, int rank, const std::string& e) {
    if (first.empty() && !e.empty()) {
      first = "rank " + std::to_string(rank) + ": " + e;
    }
  };
  for (int rank = 0; rank < job.size; ++rank) {
    std::optional<Measured> m = Unpack(all[static_cast<std::size_t>(rank)]);
    if (!m) {
      note(out.error, rank, "its measurement did not arrive whole");
      continue;
    }
    note(out.error, rank, m->error);
    note(out.stats.fatal, rank, m->stats.fatal);
    out.host_rows.push_back(RowOf(rank, job, *m));
    if (job.roles[static_cast<std::size_t>(rank)] == mpi::Role::kServer) {
      out.stats.server = m->stats.server;
      out.stats.server_port = m->stats.server_port;
      out.stats.accepted_per_loop = m->stats.accepted_per_loop;
    } else {
      out.stats.client.MergeOtherHost(m->stats.client);
      const ClientStats& c = m->stats.client;
      const double rate =
          c.seconds > 0 ? static_cast<double>(c.completed) / c.seconds : 0;
      auto& spread = out.client_hosts_conn_per_s;
      spread = spread ? std::pair{std::min(spread->first, rate),
                                  std::max(spread->second, rate)}
                      : std::pair{rate, rate};
      if (!knobs_read) out.knobs = m->knobs;  // where connect() acts
      knobs_read = true;
    }
    out.census.server += m->census.server;
    out.census.client += m->census.client;
    out.census.settled = out.census.settled && m->census.settled;
    const Counters none{};
    Counters delta{m->tcpext, {}, {}};
    AddDelta(out, delta, none);
    out.out_rsts += m->out_rsts;
    out.abort_rsts += m->abort_rsts;
    out.time_wait_at_start += m->time_wait_at_start;
    *out.sockstat_tw += m->sockstat_tw.value_or(0);
    out.isolated = out.isolated && m->isolated;
  }
  return out;
}

}  // namespace

Measured MeasureAcrossRanks(const Scenario& s, const RunState& run) {
  Measured m;
  if (std::string why = NotInJob(s, run); !why.empty()) {
    m.error = why;
    return m;
  }
  const mpi::Job& job = *run.job;
  if (!mpi::Barrier(WaitFor(s, run), "the start of the run")) {
    m.error = InterruptedInJob();
    return m;
  }
  if (job.role() == mpi::Role::kServer) {
    ServeRank(s, run, m);
  } else {
    ChurnRank(s, run, m);
  }
  if (mpi::Interrupted()) {
    if (m.error.empty()) m.error = InterruptedInJob();
    return m;
  }
  std::optional<std::vector<std::string>> all =
      mpi::Gather(WaitFor(s, run), 0, Pack(m), "every rank's counts");
  if (!all) {
    m.error = InterruptedInJob();
    return m;
  }
  return job.rank == 0 ? MergeRanks(job, *all) : m;
}

}  // namespace twbench
