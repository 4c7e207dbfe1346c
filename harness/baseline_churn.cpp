// The bare-epoll baseline churn: what the engine's payload=0 churn costs when
// nothing but the kernel's own work is done per connection. Kept as plain as
// the syscalls allow, so that the engine's extra time over it is the
// harness's (libuv, bookkeeping), not the kernel's. N server threads
// (baseline_server.cpp) and N client threads (baseline_client.cpp), set up
// and split as the engine's loops (harness/churn.cpp).
#include "twbench/baseline_churn.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "baseline_client.h"
#include "baseline_server.h"
#include "loop_threads.h"
#include "spdlog/spdlog.h"
#include "twbench/listener.h"
#include "twbench/settings.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

// The run's listening sockets: accept=reuseport, one per server thread on
// one port, all with SO_REUSEPORT (the kernel spreads connections by a hash
// of the 4-tuple); accept=shared (or one thread), one socket that every
// server thread polls. closer=rst: SO_LINGER {1,0} on the listener, which
// every accepted socket inherits, so the abort costs no syscall per
// connection.
struct BaselineListeners {
  std::vector<UniqueFd> fds;
  std::uint16_t port = 0;
  ListenerResult failure;  // fds empty: why
};

BaselineListeners MakeBaselineListeners(const Scenario& b) {
  BaselineListeners out;
  ListenerOptions options;
  options.family = b.family;
  options.backlog = b.backlog;
  options.port = b.port;
  options.reuseport = ListenerReuseport(b);
  const int count = b.accept == AcceptMode::kReuseport ? b.loops : 1;
  for (int i = 0; i < count; ++i) {
    ListenerResult r = MakeListener(options);  // non-blocking
    if (r.fd && b.closer == Closer::kRst) {
      const linger abort{1, 0};
      if (setsockopt(r.fd.get(), SOL_SOCKET, SO_LINGER, &abort,
                     sizeof(abort)) != 0) {
        r.fd.reset();
        r.failed_step = Step::kSetup;
        r.error = -errno;
      }
    }
    if (!r.fd) {
      out.fds.clear();
      out.failure = std::move(r);
      return out;
    }
    if (i == 0) out.port = options.port = r.port;
    out.fds.push_back(std::move(r.fd));
  }
  return out;
}

// One client thread's stats on cache lines of its own.
struct alignas(64) ClientPart {
  ClientStats stats;
};

// The run's threads and what each writes.
struct Threads {
  std::vector<BaselineServerPart> server_parts;
  std::vector<ClientPart> client_parts;
  std::vector<std::unique_ptr<BaselineServer>> servers;
  std::vector<std::unique_ptr<BaselineClient>> clients;
};

// "" or the first setup failure.
std::string Build(const Scenario& b, const BaselineListeners& listeners,
                  const std::atomic<bool>* stop, Threads& t) {
  const auto n = static_cast<std::size_t>(b.loops);
  const std::vector<sockaddr_storage> sources = LoopbackSources(b.client_addrs);
  const sockaddr_storage server = LoopbackAddress(b.family, listeners.port);
  for (std::size_t i = 0; i < n; ++i) {
    const int part = static_cast<int>(i);
    const int listener = listeners.fds[i % listeners.fds.size()].get();
    t.servers.push_back(std::make_unique<BaselineServer>(
        b, listener, &t.server_parts[i], t.server_parts));
    BaselineShare share{ShareOf(b.concurrency, b.loops, part),
                        ShareOf(b.connections, b.loops, part), sources,
                        sources.empty() ? 0 : i % sources.size()};
    t.clients.push_back(std::make_unique<BaselineClient>(
        b, std::move(share), server, stop, &t.client_parts[i].stats));
    for (std::string why : {t.servers[i]->Init(), t.clients[i]->Init()}) {
      if (!why.empty()) return why;
    }
  }
  return {};
}

// Runs every thread until the clients are done and the servers have drained;
// then merges their stats.
void RunThreads(const Scenario& b, Threads& t, ChurnStats* stats) {
  const std::vector<int> cpus =
      b.pin == Pin::kSpread ? AllowedCpus() : std::vector<int>{};
  const auto n = static_cast<std::size_t>(b.loops);
  std::vector<std::thread> server_threads;
  std::vector<std::thread> client_threads;
  for (std::size_t i = 0; b.server_accepts && i < n; ++i) {
    server_threads.emplace_back([&, i] {
      PinTo(cpus, 2 * i);
      t.servers[i]->Run();
      ServerStats& st = t.server_parts[i].stats;
      ThreadCpu(&st.cpu_user_ns, &st.cpu_sys_ns);
    });
  }
  for (std::size_t i = 0; i < n; ++i) {
    client_threads.emplace_back([&, i] {
      PinTo(cpus, 2 * i + 1);
      t.clients[i]->Run();
      ClientStats& st = t.client_parts[i].stats;
      ThreadCpu(&st.cpu_user_ns, &st.cpu_sys_ns);
    });
  }
  for (std::size_t i = 0; i < n; ++i) {
    client_threads[i].join();
    stats->client.Merge(t.client_parts[i].stats);
  }
  for (auto& server : t.servers) server->RequestStop(stats->client.connected);
  for (auto& thread : server_threads) thread.join();
  for (std::size_t i = 0; i < n; ++i) {
    const ServerStats& st = t.server_parts[i].stats;
    stats->server.Merge(st);
    stats->accepted_per_loop.push_back(st.accepted);
  }
}

}  // namespace

std::string WhyNotBaseline(const Scenario& s) {
  if (std::string why = Validate(s); !why.empty()) return why;
  // Doing less than asked would measure something else (settings.h).
  if (std::string away = BaselineUnsupported(s); !away.empty()) {
    return "not in the baseline: " + away;
  }
  return {};
}

ChurnStats RunBaselineChurn(const Scenario& b, const std::atomic<bool>* stop) {
  ChurnStats stats;
  if (std::string why = WhyNotBaseline(b); !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  BaselineListeners listeners = MakeBaselineListeners(b);
  if (listeners.fds.empty()) {
    RecordListenerFailure(listeners.failure, &stats);
    return stats;
  }
  stats.server_port = listeners.port;
  const auto n = static_cast<std::size_t>(b.loops);
  Threads t;
  t.server_parts = std::vector<BaselineServerPart>(n);
  t.client_parts.resize(n);
  if (std::string why = Build(b, listeners, stop, t); !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  RunThreads(b, t, &stats);
  return stats;  // the listeners close with `listeners`
}

}  // namespace twbench
