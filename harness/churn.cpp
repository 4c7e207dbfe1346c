// The churn engine: a server loop (churn_server.cpp) and a client loop
// (churn_client.cpp), each on its own thread, so the two ends do not share
// one core's time.
#include "twbench/churn.h"

#include <uv.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "churn_client.h"
#include "churn_server.h"
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

// A socket belongs to the namespace it was made in: the listener is made by
// a thread of the server's namespace.
ListenerResult MakeRunListener(const Scenario& s, const Placement& placement) {
  const ListenerOptions options{s.family,
                                s.port,
                                s.reuseaddr,
                                s.reuseport,
                                s.backlog,
                                true,
                                placement.server_address};
  ListenerResult l;
  std::thread([&] {
    EnterOrDie(placement.server, "listener");
    l = MakeListener(options);
  }).join();
  return l;
}

// Runs both loops, each on a thread of its namespace, until the client is
// done and the server has drained and rebound.
void RunLoops(Server& server, Client& client, const Placement& placement,
              const ChurnStats& stats) {
  std::thread server_thread([&server, &placement] {
    EnterOrDie(placement.server, "server");
    server.Run();
  });
  std::thread client_thread([&client, &placement] {
    EnterOrDie(placement.client, "client");
    client.Run();
  });
  client_thread.join();
  server.RequestStop(stats.client.connected, client.end_ns());
  server_thread.join();
  client.CloseLoop();
  server.CloseLoop();
}

}  // namespace

ChurnStats RunChurn(const Scenario& s, const std::atomic<bool>* stop,
                    const Placement& placement, LiveCounters* live) {
  ChurnStats stats;
  // Without a sampler the counts still go somewhere: one branch-free
  // increment per event either way.
  LiveCounters unobserved;
  if (live == nullptr) live = &unobserved;
  if (std::string why = Validate(s); !why.empty()) {
    stats.fatal = why;
    return stats;
  }
  ListenerResult l = MakeRunListener(s, placement);
  if (!l.fd) {
    RecordListenerFailure(l, &stats);
    return stats;
  }
  stats.server_port = l.port;
  live->server_port.store(l.port, std::memory_order_relaxed);
  sockaddr_storage server_address =
      placement.server_address.value_or(LoopbackAddress(s.family, l.port));
  SetPort(server_address, l.port);
  const sockaddr_storage client_address =
      placement.client_address.value_or(LoopbackAddress(s.family, 0));
  Server server(s, &stats.server, l.port, placement.server_address, live);
  Client client(s, &stats.client, server_address, client_address, stop, live);
  const char* what = "";
  if (int rc = server.Init(std::move(l.fd), &what); rc != 0) {
    server.Abandon();
    SetupFailed(&stats, &stats.server.errors, "server", what, rc);
    return stats;
  }
  if (int rc = client.Init(&what); rc != 0) {
    server.Abandon();
    SetupFailed(&stats, &stats.client.errors, "client", what, rc);
    return stats;
  }
  RunLoops(server, client, placement, stats);
  return stats;
}

}  // namespace twbench
