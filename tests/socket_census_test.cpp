// The socket census against the real kernel on loopback: real TIME_WAIT,
// ESTABLISHED and LISTEN sockets, exact counts, and an independent reading of
// /proc/net/tcp{,6} as the reference.
#include "twbench/socket_census.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "proc_net_tcp.h"
#include "twbench/netns.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

constexpr std::size_t kConnections = 50;

[[noreturn]] void Die(const char* call) {
  throw std::system_error(errno, std::generic_category(), call);
}

sockaddr_storage LoopbackAddress(int family, std::uint16_t port) {
  sockaddr_storage storage{};
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = in6addr_loopback;
  }
  return storage;
}

socklen_t AddressLength(int family) {
  return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

std::uint16_t LocalPort(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) < 0) {
    Die("getsockname");
  }
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
  int family = AF_INET;
};

// A blocking listener on the loopback address of `family`; port 0 lets the
// kernel choose. Empty when the port is taken (EADDRINUSE).
std::optional<Listener> TryListen(int family, std::uint16_t port) {
  Listener listener;
  listener.family = family;
  listener.fd = UniqueFd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.fd) Die("socket");
  const sockaddr_storage addr = LoopbackAddress(family, port);
  if (bind(listener.fd.get(), reinterpret_cast<const sockaddr*>(&addr),
           AddressLength(family)) < 0) {
    if (errno == EADDRINUSE) return std::nullopt;
    Die("bind");
  }
  if (listen(listener.fd.get(), SOMAXCONN) < 0) Die("listen");
  listener.port = LocalPort(listener.fd.get());
  return listener;
}

Listener Listen(int family) {
  std::optional<Listener> listener = TryListen(family, 0);
  if (!listener) Die("bind");
  return std::move(*listener);
}

struct Connection {
  UniqueFd client;
  UniqueFd server;  // the accepted side
};

std::vector<Connection> Connect(const Listener& listener, std::size_t count) {
  std::vector<Connection> connections;
  const sockaddr_storage addr = LoopbackAddress(listener.family, listener.port);
  for (std::size_t i = 0; i < count; ++i) {
    Connection c;
    c.client = UniqueFd(socket(listener.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!c.client) Die("socket");
    if (connect(c.client.get(), reinterpret_cast<const sockaddr*>(&addr),
                AddressLength(listener.family)) < 0) {
      Die("connect");
    }
    c.server =
        UniqueFd(accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.server) Die("accept4");
    connections.push_back(std::move(c));
  }
  return connections;
}

// Loopback delivers a FIN within the closing call in practice, but nothing
// promises it: poll, bounded.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

CensusQuery Query(int family, std::optional<std::uint16_t> local_port,
                  std::optional<std::uint16_t> remote_port,
                  std::uint32_t states = ~0u) {
  CensusQuery query;
  query.states = states;
  query.local_port = local_port;
  query.remote_port = remote_port;
  query.ipv4 = family == AF_INET;
  query.ipv6 = family == AF_INET6;
  return query;
}

std::uint64_t Count(const CensusQuery& query, TcpState state) {
  return CountTcpSockets(query)[state];
}

// Closes one side of every connection, then waits until the other side has
// seen the FIN (CLOSE_WAIT): closing both at once would be a simultaneous
// close, which leaves TIME_WAIT on both ends.
void CloseFirst(std::vector<Connection>& connections, bool server_first,
                const Listener& listener) {
  for (auto& c : connections) (server_first ? c.server : c.client).reset();
  const CensusQuery peers =
      server_first ? Query(listener.family, std::nullopt, listener.port)
                   : Query(listener.family, listener.port, std::nullopt);
  ASSERT_TRUE(WaitFor([&] {
    return Count(peers, TcpState::kCloseWait) == connections.size();
  }));
  for (auto& c : connections) (server_first ? c.client : c.server).reset();
}

using ::twbench::testing::CountFromProc;

void ExpectSameCounts(const TcpStateCounts& census,
                      const TcpStateCounts& proc) {
  for (int s = 1; s <= kTcpStateMax; ++s) {
    EXPECT_EQ(census.by_state[s], proc.by_state[s])
        << ToString(static_cast<TcpState>(s));
  }
}

TEST(SocketCensusTest, ServerClosesFirstLeavesTimeWaitOnServerPort) {
  Listener listener = Listen(AF_INET);
  auto connections = Connect(listener, kConnections);
  ASSERT_NO_FATAL_FAILURE(CloseFirst(connections, true, listener));

  // The listener stays open: it keeps the port ours while we count.
  const CensusQuery server_side = Query(AF_INET, listener.port, std::nullopt);
  const CensusQuery client_side = Query(AF_INET, std::nullopt, listener.port);
  ASSERT_TRUE(WaitFor([&] {
    return Count(server_side, TcpState::kTimeWait) == kConnections &&
           CountTcpSockets(client_side).total() == 0;
  }));
  const TcpStateCounts server = CountTcpSockets(server_side);
  EXPECT_EQ(server.time_wait(), kConnections);
  EXPECT_EQ(server[TcpState::kListen], 1u);
  EXPECT_EQ(server.total(), kConnections + 1);
  EXPECT_EQ(Count(Query(AF_INET, listener.port, std::nullopt,
                        StateBit(TcpState::kTimeWait)),
                  TcpState::kTimeWait),
            kConnections);
  EXPECT_EQ(Count(Query(AF_INET, std::nullopt, listener.port,
                        StateBit(TcpState::kTimeWait)),
                  TcpState::kTimeWait),
            0u);
}

TEST(SocketCensusTest, ClientClosesFirstLeavesTimeWaitOnClientSide) {
  Listener listener = Listen(AF_INET);
  auto connections = Connect(listener, kConnections);
  ASSERT_NO_FATAL_FAILURE(CloseFirst(connections, false, listener));

  const CensusQuery time_wait_to_server = Query(
      AF_INET, std::nullopt, listener.port, StateBit(TcpState::kTimeWait));
  const CensusQuery server_side = Query(AF_INET, listener.port, std::nullopt);
  ASSERT_TRUE(WaitFor([&] {
    return CountTcpSockets(time_wait_to_server).time_wait() == kConnections &&
           CountTcpSockets(server_side).total() == 1;
  }));
  EXPECT_EQ(CountTcpSockets(time_wait_to_server).total(), kConnections);
  const TcpStateCounts server = CountTcpSockets(server_side);
  EXPECT_EQ(server.time_wait(), 0u);
  EXPECT_EQ(server[TcpState::kListen], 1u);
  EXPECT_EQ(server.total(), 1u);  // the accepted sides ended CLOSED
}

TEST(SocketCensusTest, CountsEstablishedAndListen) {
  const Listener listener = Listen(AF_INET);
  const auto connections = Connect(listener, kConnections);

  const TcpStateCounts server =
      CountTcpSockets(Query(AF_INET, listener.port, std::nullopt));
  EXPECT_EQ(server[TcpState::kListen], 1u);
  EXPECT_EQ(server[TcpState::kEstablished], kConnections);
  EXPECT_EQ(server.total(), kConnections + 1u);

  const TcpStateCounts client =
      CountTcpSockets(Query(AF_INET, std::nullopt, listener.port));
  EXPECT_EQ(client[TcpState::kEstablished], kConnections);
  EXPECT_EQ(client.total(), kConnections);
}

// An IPv6 listener on [::1]:P and an IPv4 one on 127.0.0.1:P. Holding both
// addresses without SO_REUSEADDR means no other socket of this namespace has
// either one as its local address, so every count on port P is ours.
std::pair<Listener, Listener> ListenOnSharedPort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    Listener v6 = Listen(AF_INET6);
    // Taken when an IPv4 socket (say, in TIME_WAIT) still holds the port.
    if (std::optional<Listener> v4 = TryListen(AF_INET, v6.port)) {
      return {std::move(v6), std::move(*v4)};
    }
  }
  throw std::runtime_error("no port free on both ::1 and 127.0.0.1");
}

TEST(SocketCensusTest, CountsIpv6OnLoopbackAndSplitsTheFamilies) {
  auto [v6, v4] = ListenOnSharedPort();
  const std::uint16_t port = v6.port;
  auto v6_connections = Connect(v6, kConnections);
  const auto v4_connections = Connect(v4, 3);

  const TcpStateCounts only_v6 =
      CountTcpSockets(Query(AF_INET6, port, std::nullopt));
  EXPECT_EQ(only_v6[TcpState::kListen], 1u);
  EXPECT_EQ(only_v6[TcpState::kEstablished], kConnections);
  EXPECT_EQ(only_v6.total(), kConnections + 1);
  const TcpStateCounts only_v4 =
      CountTcpSockets(Query(AF_INET, port, std::nullopt));
  EXPECT_EQ(only_v4[TcpState::kListen], 1u);
  EXPECT_EQ(only_v4[TcpState::kEstablished], 3u);
  EXPECT_EQ(only_v4.total(), 4u);

  ASSERT_NO_FATAL_FAILURE(CloseFirst(v6_connections, true, v6));
  CensusQuery both = Query(AF_INET6, port, std::nullopt);
  both.ipv4 = true;
  ASSERT_TRUE(WaitFor(
      [&] { return Count(both, TcpState::kTimeWait) == kConnections; }));
  const TcpStateCounts counts = CountTcpSockets(both);
  EXPECT_EQ(counts[TcpState::kListen], 2u);
  EXPECT_EQ(counts[TcpState::kEstablished], 3u);
  EXPECT_EQ(counts.total(), kConnections + 5);
  EXPECT_EQ(Count(Query(AF_INET, port, std::nullopt), TcpState::kTimeWait), 0u);
}

TEST(SocketCensusTest, PortFilterSkipsAnotherListenersSockets) {
  const Listener first = Listen(AF_INET);
  const Listener second = Listen(AF_INET);
  const auto first_connections = Connect(first, 3);
  const auto second_connections = Connect(second, 5);

  const TcpStateCounts a = CountTcpSockets(Query(AF_INET, first.port, {}));
  EXPECT_EQ(a[TcpState::kListen], 1u);
  EXPECT_EQ(a[TcpState::kEstablished], 3u);
  EXPECT_EQ(a.total(), 4u);
  const TcpStateCounts b = CountTcpSockets(Query(AF_INET, second.port, {}));
  EXPECT_EQ(b[TcpState::kListen], 1u);
  EXPECT_EQ(b[TcpState::kEstablished], 5u);
  EXPECT_EQ(b.total(), 6u);
}

TEST(SocketCensusTest, BothPortsMustMatch) {
  const Listener listener = Listen(AF_INET);
  const auto connections = Connect(listener, 4);
  const std::uint16_t client_port = LocalPort(connections[1].client.get());

  // Exactly one socket has each (local, remote) pair: one end of one flow.
  const TcpStateCounts client =
      CountTcpSockets(Query(AF_INET, client_port, listener.port));
  EXPECT_EQ(client[TcpState::kEstablished], 1u);
  EXPECT_EQ(client.total(), 1u);
  const TcpStateCounts server =
      CountTcpSockets(Query(AF_INET, listener.port, client_port));
  EXPECT_EQ(server[TcpState::kEstablished], 1u);
  EXPECT_EQ(server.total(), 1u);
  EXPECT_EQ(
      CountTcpSockets(Query(AF_INET, listener.port, listener.port)).total(),
      0u);
  EXPECT_EQ(CountTcpSockets(Query(AF_INET, client_port, client_port)).total(),
            0u);
}

// One listener on 0.0.0.0, reached at two addresses of loopback: the port
// is the same, the addresses tell the flows apart (an MPI job's client host
// counts only what it has to the server's address).
TEST(SocketCensusTest, AddressFilterSplitsOnePortByAddress) {
  UniqueFd any(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(any.valid());
  sockaddr_in wild{};
  wild.sin_family = AF_INET;
  wild.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(
      bind(any.get(), reinterpret_cast<const sockaddr*>(&wild), sizeof wild),
      0);
  ASSERT_EQ(listen(any.get(), SOMAXCONN), 0);
  const std::uint16_t port = LocalPort(any.get());
  std::vector<Connection> flows;
  for (const char* to :
       {"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"}) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ASSERT_EQ(inet_pton(AF_INET, to, &addr.sin_addr), 1);
    Connection c;
    c.client = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(connect(c.client.get(), reinterpret_cast<const sockaddr*>(&addr),
                      sizeof addr),
              0);
    c.server = UniqueFd(accept4(any.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(c.server.valid());
    flows.push_back(std::move(c));
  }
  const auto at = [port](const char* text) {
    sockaddr_storage a{};
    auto& in = reinterpret_cast<sockaddr_in&>(a);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);  // ignored by the filter
    inet_pton(AF_INET, text, &in.sin_addr);
    return a;
  };
  CensusQuery clients = Query(AF_INET, std::nullopt, port);
  clients.remote_address = at("127.0.0.2");
  EXPECT_EQ(CountTcpSockets(clients).total(), 2u);
  clients.remote_address = at("127.0.0.1");
  EXPECT_EQ(CountTcpSockets(clients).total(), 3u);
  CensusQuery servers = Query(AF_INET, port, std::nullopt);
  servers.local_address = at("127.0.0.2");
  // The accepted sockets to 127.0.0.2; the listener (0.0.0.0) is not one.
  EXPECT_EQ(CountTcpSockets(servers)[TcpState::kEstablished], 2u);
  EXPECT_EQ(CountTcpSockets(servers).total(), 2u);
  servers.local_address = at("127.0.0.3");
  EXPECT_EQ(CountTcpSockets(servers).total(), 0u);
  // Another family's address matches nothing of this one.
  sockaddr_storage v6{};
  v6.ss_family = AF_INET6;
  servers.local_address = v6;
  EXPECT_EQ(CountTcpSockets(servers).total(), 0u);
}

// A reader of /proc/net/tcp resumes each read() at a hash bucket and an
// offset into it, so sockets that other processes open and close meanwhile in
// the same namespace can be shown twice or not at all. The comparison therefore
// runs in a network namespace of its own, on a thread of its own (namespaces
// are per thread), where the census and the reference must agree exactly.
void RunInPrivateNetns(const std::function<void()>& body) {
  if (std::optional<std::string> why = RunInFreshNetns(body)) {
    GTEST_SKIP() << "needs a network namespace: " << *why;
  }
}

struct Churned {
  Listener listener;
  std::vector<Connection> open;
};

// A listener with `time_wait` server-closed connections and `established`
// open ones.
Churned MakeChurn(int family, std::size_t time_wait, std::size_t established) {
  Churned churned{Listen(family), {}};
  auto closed = Connect(churned.listener, time_wait);
  churned.open = Connect(churned.listener, established);
  CloseFirst(closed, true, churned.listener);
  const CensusQuery server_side =
      Query(family, churned.listener.port, std::nullopt);
  EXPECT_TRUE(WaitFor(
      [&] { return Count(server_side, TcpState::kTimeWait) == time_wait; }));
  return churned;
}

void CompareWithProc(const CensusQuery& query) {
  const TcpStateCounts census = CountTcpSockets(query);
  TcpStateCounts proc;
  ASSERT_NO_FATAL_FAILURE(proc = CountFromProc(query));
  EXPECT_GT(census.total(), 0u);
  ExpectSameCounts(census, proc);
}

TEST(SocketCensusTest, MatchesProcNetTcp) {
  RunInPrivateNetns([] {
    const Churned v4 = MakeChurn(AF_INET, 20, 7);
    const Churned v6 = MakeChurn(AF_INET6, 30, 4);
    if (::testing::Test::HasFailure()) return;

    const TcpStateCounts all = CountTcpSockets(CensusQuery{});
    EXPECT_EQ(all[TcpState::kListen], 2u);
    EXPECT_EQ(all[TcpState::kEstablished], 2u * (7 + 4));
    EXPECT_EQ(all.time_wait(), 20u + 30u);
    EXPECT_EQ(all.total(), 2u + 2u * (7 + 4) + 20u + 30u);
    CompareWithProc(CensusQuery{});

    for (const Churned* churned : {&v4, &v6}) {
      const int family = churned->listener.family;
      SCOPED_TRACE(family == AF_INET ? "IPv4" : "IPv6");
      const std::uint16_t port = churned->listener.port;
      const std::uint16_t client_port =
          LocalPort(churned->open[0].client.get());
      for (CensusQuery query :
           {Query(family, std::nullopt, std::nullopt),
            Query(family, port, std::nullopt),
            Query(family, std::nullopt, port), Query(family, client_port, port),
            Query(
                family, port, std::nullopt,
                StateBit(TcpState::kTimeWait) | StateBit(TcpState::kListen))}) {
        CompareWithProc(query);
        query.ipv4 = query.ipv6 = true;
        CompareWithProc(query);
      }
    }
  });
}

TEST(SocketCensusTest, StateMaskSelectsStates) {
  const Listener listener = Listen(AF_INET);
  const auto connections = Connect(listener, 3);

  const TcpStateCounts listening = CountTcpSockets(
      Query(AF_INET, listener.port, std::nullopt, StateBit(TcpState::kListen)));
  EXPECT_EQ(listening[TcpState::kListen], 1u);
  EXPECT_EQ(listening.total(), 1u);
  EXPECT_EQ(
      CountTcpSockets(Query(AF_INET, listener.port, std::nullopt, 0)).total(),
      0u);
  CensusQuery nothing;
  nothing.states = 0;
  EXPECT_EQ(CountTcpSockets(nothing).total(), 0u);
}

TEST(SocketCensusTest, UnfilteredCountIncludesOurSockets) {
  const Listener listener = Listen(AF_INET);
  const auto connections = Connect(listener, 3);
  const TcpStateCounts all = CountTcpSockets(CensusQuery{});
  EXPECT_GE(all[TcpState::kListen], 1u);
  EXPECT_GE(all[TcpState::kEstablished], 6u);
}

TEST(SocketCensusTest, NamesAndTotal) {
  const char* const names[] = {"ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                               "FIN_WAIT1",   "FIN_WAIT2",  "TIME_WAIT",
                               "CLOSE",       "CLOSE_WAIT", "LAST_ACK",
                               "LISTEN",      "CLOSING",    "NEW_SYN_RECV"};
  for (int s = 1; s <= kTcpStateMax; ++s) {
    EXPECT_STREQ(ToString(static_cast<TcpState>(s)), names[s - 1]);
  }
  TcpStateCounts counts;
  EXPECT_EQ(counts.total(), 0u);
  counts.by_state[static_cast<int>(TcpState::kTimeWait)] = 5;
  counts.by_state[static_cast<int>(TcpState::kListen)] = 2;
  EXPECT_EQ(counts.total(), 7u);
  EXPECT_EQ(counts.time_wait(), 5u);
  EXPECT_EQ(StateBit(TcpState::kTimeWait), 1u << 6);
}

}  // namespace
}  // namespace twbench
