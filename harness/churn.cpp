// The churn engine: N server loops (churn_server.cpp) and N client loops
// (churn_client.cpp), each on a thread of its own, so no two ends share one
// loop's time. Each loop writes only its own stats and live counters; they
// are merged once the threads are joined.
#include "twbench/churn.h"

#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "churn_client.h"
#include "churn_server.h"
#include "loop_threads.h"
#include "spdlog/spdlog.h"
#include "twbench/error_name.h"
#include "twbench/listener.h"
#include "twbench/netns.h"

namespace twbench {
namespace {

// Moves the calling thread into `ns` (when given). The namespaces are the
// run's own, made a moment ago: failing to enter one is a broken invariant.
void EnterOrDie(const NetNamespace* ns, const char* which) {
  std::string why;
  if (ns != nullptr && !Enter(*ns, &why)) {
    spdlog::critical("{} thread cannot enter its namespace: {}", which, why);
    std::abort();
  }
}

// A loop that cannot be set up (out of fds) ends the run before it starts:
// fatal, counted by errno name in that side's errors.
void SetupFailed(ChurnStats* stats, ErrorCounts* side, const char* which,
                 const char* what, int rc) {
  side->Add(Step::kSetup, rc);
  stats->fatal =
      std::string(which) + " loop setup: " + what + ": " + UvErrorName(rc);
}

// The run's listening sockets, one per server loop. accept=reuseport: loop
// 0's binds (the kernel picks the port when none is set), the others bind
// that port, all with SO_REUSEPORT. accept=shared (or one loop): one socket,
// and for every further loop a dup() of it: one open file description,
// polled by every loop (docs/loops.md).
struct RunListeners {
  std::vector<UniqueFd> fds;
  std::uint16_t port = 0;
  ListenerResult failure;  // fds empty: why
};

// A socket belongs to the namespace it was made in: the listeners are made
// by a thread of the server's namespace.
RunListeners MakeRunListeners(const Scenario& s, const Placement& placement) {
  RunListeners out;
  std::thread([&] {
    EnterOrDie(placement.server, "listener");
    ListenerOptions options{s.family,
                            s.port,
                            s.reuseaddr,
                            ListenerReuseport(s),
                            s.backlog,
                            true,
                            placement.server_address};
    ListenerResult first = MakeListener(options);
    if (!first.fd) {
      out.failure = std::move(first);
      return;
    }
    out.port = first.port;
    out.fds.push_back(std::move(first.fd));
    options.port = out.port;
    for (int i = 1; i < s.loops; ++i) {
      ListenerResult r;
      if (s.accept == AcceptMode::kShared) {
        r.fd = DupListener(out.fds[0].get());
        r.failed_step = Step::kSetup;
        r.error = r.fd ? 0 : -errno;
      } else {
        r = MakeListener(options);
      }
      if (!r.fd) {
        out.fds.clear();
        out.failure = std::move(r);
        return;
      }
      out.fds.push_back(std::move(r.fd));
    }
  }).join();
  return out;
}

// The source addresses client sockets bind in turn; empty with one.
std::vector<sockaddr_storage> ClientSources(const Scenario& s,
                                            const Placement& placement,
                                            std::string* why) {
  const auto k = static_cast<std::size_t>(s.client_addrs);
  if (k <= 1) return {};
  if (!placement.client_sources.empty()) {
    if (placement.client_sources.size() < k) {
      *why = "client_addrs " + std::to_string(k) + ": the topology has " +
             std::to_string(placement.client_sources.size()) +
             " client addresses";
      return {};
    }
    return {placement.client_sources.begin(),
            placement.client_sources.begin() + static_cast<long>(k)};
  }
  if (s.family != Family::kIPv4 || placement.client_address) {
    *why = "client_addrs " + std::to_string(k) +
           ": this topology has one client address";
    return {};
  }
  return LoopbackSources(s.client_addrs);
}

// One loop's stats on cache lines of its own: loops write them at once.
struct alignas(64) ClientPart {
  ClientStats stats;
};
struct alignas(64) ServerPart {
  ServerStats stats;
};

std::vector<int> PinCpus(const Scenario& s) {
  return s.pin == Pin::kSpread ? AllowedCpus() : std::vector<int>{};
}

}  // namespace

// ------------------------------------------------------- the server side

struct ChurnServerSide::Loops {
  std::vector<ServerPart> stats;
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<std::thread> threads;
  ServerGroup group;
  // Several loops restarting (loops > 1, restart_every > 0); null otherwise.
  std::unique_ptr<RestartGroup> restarts;
};

ChurnServerSide::ChurnServerSide(const Scenario& s, const Placement& placement,
                                 LiveCounters* live, ChurnStats* stats)
    : s_(s), placement_(placement), live_(live), stats_(stats) {}

ChurnServerSide::~ChurnServerSide() = default;

bool ChurnServerSide::Setup() {
  RunListeners listeners = MakeRunListeners(s_, placement_);
  if (listeners.fds.empty()) {
    RecordListenerFailure(listeners.failure, stats_);
    return false;
  }
  port_ = listeners.port;
  stats_->server_port = port_;
  live_->server_port.store(port_, std::memory_order_relaxed);
  const auto n = static_cast<std::size_t>(s_.loops);
  loops_ = std::make_unique<Loops>();
  loops_->stats.resize(n);
  loops_->group = {live_, s_.loops, &fd_claims_};
  if (s_.loops > 1 && s_.restart_every > 0) {
    loops_->restarts = std::make_unique<RestartGroup>(
        s_.loops, s_.restart_mode == RestartMode::kOverlap,
        s_.accept == AcceptMode::kShared);
  }
  for (std::size_t i = 0; i < n; ++i) {
    loops_->servers.push_back(std::make_unique<Server>(
        s_, &loops_->stats[i].stats, port_, placement_.server_address,
        &live_->server[i], &loops_->group, loops_->restarts.get(),
        static_cast<int>(i)));
  }
  const char* what = "";
  for (std::size_t i = 0; i < n; ++i) {
    if (int rc = loops_->servers[i]->Init(std::move(listeners.fds[i]), &what);
        rc != 0) {
      Abandon();
      SetupFailed(stats_, &stats_->server.errors, "server", what, rc);
      return false;
    }
  }
  return true;
}

void ChurnServerSide::Abandon() {
  if (!loops_) return;
  for (auto& server : loops_->servers) server->Abandon();
  loops_.reset();
}

// Server loop i on the (2i)-th CPU with pin=spread, its client beside it.
void ChurnServerSide::Start() {
  const std::vector<int> cpus = PinCpus(s_);
  for (std::size_t i = 0; i < loops_->servers.size(); ++i) {
    loops_->threads.emplace_back([this, cpus, i] {
      PinTo(cpus, 2 * i);
      EnterOrDie(placement_.server, "server");
      loops_->servers[i]->Run();
      ServerStats& st = loops_->stats[i].stats;
      ThreadCpu(&st.cpu_user_ns, &st.cpu_sys_ns);
    });
  }
}

void ChurnServerSide::Finish(std::uint64_t connected, std::uint64_t end_ns) {
  if (loops_->restarts) loops_->restarts->ClientEnded(end_ns);
  for (auto& server : loops_->servers) server->RequestStop(connected, end_ns);
  for (std::size_t i = 0; i < loops_->threads.size(); ++i) {
    loops_->threads[i].join();
    const ServerStats& st = loops_->stats[i].stats;
    stats_->server.Merge(st);
    stats_->accepted_per_loop.push_back(st.accepted);
  }
  // Several loops restarting: down is when no loop had a listener up, not
  // the sum of each loop's own down time.
  if (loops_->restarts) {
    stats_->server.server_down_ns = loops_->restarts->down_ns();
  }
  for (auto& server : loops_->servers) server->CloseLoop();
  loops_.reset();
  // Every listener and connection of the run is closed: restart at once.
  std::thread([&] {
    EnterOrDie(placement_.server, "rebind");
    RebindAfterRun(s_, port_, placement_.server_address, &stats_->server,
                   &live_->server[0]);
  }).join();
}

// ------------------------------------------------------- the client side

struct ChurnClientSide::Loops {
  std::vector<ClientPart> stats;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::thread> threads;
};

ChurnClientSide::ChurnClientSide(const Scenario& s, const Placement& placement,
                                 sockaddr_storage server,
                                 const std::atomic<bool>* stop,
                                 LiveCounters* live, ChurnStats* stats,
                                 int first_part, int parts)
    : s_(s),
      placement_(placement),
      server_(server),
      stop_(stop),
      live_(live),
      stats_(stats),
      first_part_(first_part),
      parts_(parts > 0 ? parts : s.loops) {}

ChurnClientSide::~ChurnClientSide() = default;

bool ChurnClientSide::Setup() {
  std::string why;
  const std::vector<sockaddr_storage> sources =
      ClientSources(s_, placement_, &why);
  if (!why.empty()) {
    stats_->fatal = why;
    return false;
  }
  const sockaddr_storage local =
      placement_.client_address.value_or(LoopbackAddress(s_.family, 0));
  const auto n = static_cast<std::size_t>(s_.loops);
  loops_ = std::make_unique<Loops>();
  loops_->stats.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int part = first_part_ + static_cast<int>(i);
    ClientShare share{ShareOf(s_.concurrency, parts_, part),
                      ShareOf(s_.connections, parts_, part), sources,
                      sources.empty() ? 0 : i % sources.size()};
    loops_->clients.push_back(std::make_unique<Client>(
        s_, std::move(share), &loops_->stats[i].stats, server_, local, stop_,
        &live_->client[i], server_fd_claims_));
  }
  const char* what = "";
  for (auto& client : loops_->clients) {
    if (int rc = client->Init(&what); rc != 0) {
      Abandon();
      SetupFailed(stats_, &stats_->client.errors, "client", what, rc);
      return false;
    }
  }
  return true;
}

void ChurnClientSide::Abandon() {
  if (!loops_) return;
  for (auto& client : loops_->clients) client->Abandon();
  loops_.reset();
}

void ChurnClientSide::Start() {
  const std::vector<int> cpus = PinCpus(s_);
  for (std::size_t i = 0; i < loops_->clients.size(); ++i) {
    loops_->threads.emplace_back([this, cpus, i] {
      PinTo(cpus, 2 * i + 1);
      EnterOrDie(placement_.client, "client");
      loops_->clients[i]->Run();
      ClientStats& st = loops_->stats[i].stats;
      ThreadCpu(&st.cpu_user_ns, &st.cpu_sys_ns);
    });
  }
}

std::uint64_t ChurnClientSide::Join() {
  std::uint64_t end_ns = 0;
  for (std::size_t i = 0; i < loops_->threads.size(); ++i) {
    loops_->threads[i].join();
    stats_->client.Merge(loops_->stats[i].stats);
    end_ns = std::max(end_ns, loops_->clients[i]->end_ns());
  }
  for (auto& client : loops_->clients) client->CloseLoop();
  loops_.reset();
  return end_ns;
}

// ------------------------------------------------------ both in one process

ChurnStats RunChurn(const Scenario& s, const std::atomic<bool>* stop,
                    const Placement& placement, LiveCounters* live) {
  ChurnStats stats;
  // Without a sampler the counts still go somewhere: one branch-free
  // increment per event either way.
  std::unique_ptr<LiveCounters> unobserved;
  if (live == nullptr) {
    unobserved = std::make_unique<LiveCounters>();
    live = unobserved.get();
  }
  if (std::string why = Validate(s); !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  // The client's sources are checked before any listener is made.
  if (std::string why; ClientSources(s, placement, &why), !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  ChurnServerSide server(s, placement, live, &stats);
  if (!server.Setup()) return stats;
  sockaddr_storage server_address = placement.server_address.value_or(
      LoopbackAddress(s.family, server.port()));
  SetPort(server_address, server.port());
  ChurnClientSide client(s, placement, server_address, stop, live, &stats);
  client.YieldFdsTo(server);
  if (!client.Setup()) {
    server.Abandon();
    return stats;
  }
  server.Start();
  client.Start();
  const std::uint64_t end_ns = client.Join();
  server.Finish(stats.client.connected, end_ns);
  return stats;
}

}  // namespace twbench
