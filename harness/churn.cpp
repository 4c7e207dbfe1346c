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
      std::string(which) + " loop setup: " + what + ": " + uv_err_name(rc);
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

// The run's loops.
struct Loops {
  std::vector<ClientPart> client_stats;
  std::vector<ServerPart> server_stats;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<Server>> servers;
  ServerGroup group;
  // Several loops restarting (loops > 1, restart_every > 0); null otherwise.
  std::unique_ptr<RestartGroup> restarts;

  void Abandon() {
    for (auto& server : servers) server->Abandon();
    for (auto& client : clients) client->Abandon();
  }
};

// Runs every loop, each on a thread of its namespace, until the clients are
// done and the servers have drained and closed; then merges their stats.
void RunLoops(const Scenario& s, Loops& loops, const Placement& placement,
              ChurnStats* stats) {
  const std::vector<int> cpus =
      s.pin == Pin::kSpread ? AllowedCpus() : std::vector<int>{};
  const auto n = static_cast<std::size_t>(s.loops);
  std::vector<std::thread> server_threads;
  std::vector<std::thread> client_threads;
  for (std::size_t i = 0; i < n; ++i) {
    server_threads.emplace_back([&, i] {
      PinTo(cpus, 2 * i);
      EnterOrDie(placement.server, "server");
      loops.servers[i]->Run();
      ServerStats& st = loops.server_stats[i].stats;
      ThreadCpu(&st.cpu_user_ns, &st.cpu_sys_ns);
    });
  }
  for (std::size_t i = 0; i < n; ++i) {
    client_threads.emplace_back([&, i] {
      PinTo(cpus, 2 * i + 1);
      EnterOrDie(placement.client, "client");
      loops.clients[i]->Run();
      ClientStats& st = loops.client_stats[i].stats;
      ThreadCpu(&st.cpu_user_ns, &st.cpu_sys_ns);
    });
  }
  std::uint64_t end_ns = 0;
  for (std::size_t i = 0; i < n; ++i) {
    client_threads[i].join();
    stats->client.Merge(loops.client_stats[i].stats);
    end_ns = std::max(end_ns, loops.clients[i]->end_ns());
  }
  if (loops.restarts) loops.restarts->ClientEnded(end_ns);
  for (auto& server : loops.servers) {
    server->RequestStop(stats->client.connected, end_ns);
  }
  for (std::size_t i = 0; i < n; ++i) {
    server_threads[i].join();
    const ServerStats& st = loops.server_stats[i].stats;
    stats->server.Merge(st);
    stats->accepted_per_loop.push_back(st.accepted);
  }
  // Several loops restarting: down is when no loop had a listener up, not
  // the sum of each loop's own down time.
  if (loops.restarts) stats->server.server_down_ns = loops.restarts->down_ns();
  for (auto& client : loops.clients) client->CloseLoop();
  for (auto& server : loops.servers) server->CloseLoop();
}

}  // namespace

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
  std::string why;
  const std::vector<sockaddr_storage> sources =
      ClientSources(s, placement, &why);
  if (!why.empty()) {
    stats.fatal = why;
    return stats;
  }
  RunListeners listeners = MakeRunListeners(s, placement);
  if (listeners.fds.empty()) {
    RecordListenerFailure(listeners.failure, &stats);
    return stats;
  }
  const std::uint16_t port = listeners.port;
  stats.server_port = port;
  live->server_port.store(port, std::memory_order_relaxed);
  sockaddr_storage server_address =
      placement.server_address.value_or(LoopbackAddress(s.family, port));
  SetPort(server_address, port);
  const sockaddr_storage client_address =
      placement.client_address.value_or(LoopbackAddress(s.family, 0));

  const auto n = static_cast<std::size_t>(s.loops);
  Loops loops;
  loops.client_stats.resize(n);
  loops.server_stats.resize(n);
  loops.group = {live, s.loops};
  if (s.loops > 1 && s.restart_every > 0) {
    loops.restarts = std::make_unique<RestartGroup>(
        s.loops, s.restart_mode == RestartMode::kOverlap,
        s.accept == AcceptMode::kShared);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const int part = static_cast<int>(i);
    ClientShare share{ShareOf(s.concurrency, s.loops, part),
                      ShareOf(s.connections, s.loops, part), sources,
                      sources.empty() ? 0 : i % sources.size()};
    loops.servers.push_back(std::make_unique<Server>(
        s, &loops.server_stats[i].stats, port, placement.server_address,
        &live->server[i], &loops.group, loops.restarts.get(), part));
    loops.clients.push_back(std::make_unique<Client>(
        s, std::move(share), &loops.client_stats[i].stats, server_address,
        client_address, stop, &live->client[i]));
  }
  const char* what = "";
  for (std::size_t i = 0; i < n; ++i) {
    if (int rc = loops.servers[i]->Init(std::move(listeners.fds[i]), &what);
        rc != 0) {
      loops.Abandon();
      SetupFailed(&stats, &stats.server.errors, "server", what, rc);
      return stats;
    }
    if (int rc = loops.clients[i]->Init(&what); rc != 0) {
      loops.Abandon();
      SetupFailed(&stats, &stats.client.errors, "client", what, rc);
      return stats;
    }
  }
  RunLoops(s, loops, placement, &stats);
  // Every listener and connection of the run is closed: restart at once.
  std::thread([&] {
    EnterOrDie(placement.server, "rebind");
    RebindAfterRun(s, port, placement.server_address, &stats.server,
                   &live->server[0]);
  }).join();
  return stats;
}

}  // namespace twbench
