// The kernel's TCP counters against real connections inside a fresh
// namespace, where every count is the test's own and exact: TIME_WAIT made,
// refused for lack of buckets, recycled by tcp_tw_reuse, and the RST of an
// abortive close.
#include "twbench/kernel_counters.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "netns_skip.h"
#include "twbench/netns.h"
#include "twbench/socket_census.h"
#include "twbench/sysctl.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

using test::InFreshNetns;

constexpr std::uint64_t kConnections = 50;
constexpr int kRounds = 5;  // reconnects through one port

[[noreturn]] void Die(const char* call) {
  throw std::system_error(errno, std::generic_category(), call);
}

sockaddr_in Loopback(std::uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
};

Listener Listen() {
  Listener listener;
  listener.fd = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.fd) Die("socket");
  sockaddr_in addr = Loopback(0);
  if (bind(listener.fd.get(), reinterpret_cast<const sockaddr*>(&addr),
           sizeof(addr)) < 0) {
    Die("bind");
  }
  if (listen(listener.fd.get(), SOMAXCONN) < 0) Die("listen");
  socklen_t len = sizeof(addr);
  if (getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) <
      0) {
    Die("getsockname");
  }
  listener.port = ntohs(addr.sin_port);
  return listener;
}

struct Flow {
  UniqueFd client;
  UniqueFd server;
};

// One connection; nullopt with errno kept when connect() fails.
std::optional<Flow> TryConnect(const Listener& listener) {
  Flow flow;
  flow.client = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!flow.client) Die("socket");
  const sockaddr_in addr = Loopback(listener.port);
  if (connect(flow.client.get(), reinterpret_cast<const sockaddr*>(&addr),
              sizeof(addr)) < 0) {
    return std::nullopt;
  }
  flow.server =
      UniqueFd(accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!flow.server) Die("accept4");
  return flow;
}

// `first` closes; `second` reads the FIN (recv returns 0, bounded by
// SO_RCVTIMEO) and then closes, so the close is not simultaneous and only
// `first` ends in TIME_WAIT.
void CloseInOrder(UniqueFd& first, UniqueFd& second) {
  first.reset();
  const timeval timeout{2, 0};
  if (setsockopt(second.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout)) < 0) {
    Die("setsockopt(SO_RCVTIMEO)");
  }
  char byte = 0;
  if (recv(second.get(), &byte, 1, 0) != 0) Die("recv (FIN expected)");
  second.reset();
}

void ServerClosedConnections(const Listener& listener, std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) {
    std::optional<Flow> flow = TryConnect(listener);
    if (!flow) Die("connect");
    CloseInOrder(flow->server, flow->client);
  }
}

// The final ACK is processed on the closing call in practice on loopback,
// but nothing promises it: poll, bounded.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::uint64_t CensusTimeWait() {
  CensusQuery query;
  query.states = StateBit(TcpState::kTimeWait);
  return CountTcpSockets(query).time_wait();
}

constexpr char kNetstatSample[] =
    "TcpExt: SyncookiesSent TW TWRecycled TWKilled ListenOverflows "
    "ListenDrops TCPTimeWaitOverflow\n"
    "TcpExt: 3 10 2 1 7 8 5\n"
    "IpExt: InNoRoutes InTruncatedPkts\n"
    "IpExt: 0 0\n";

TEST(KernelCountersTest, ParsesTcpExtByName) {
  const TcpExtCounters c = ParseTcpExt(kNetstatSample);
  EXPECT_EQ(c.tw, 10u);
  EXPECT_EQ(c.tw_recycled, 2u);
  EXPECT_EQ(c.tw_killed, 1u);
  EXPECT_EQ(c.tw_overflow, 5u);
  EXPECT_EQ(c.listen_overflows, 7u);
  EXPECT_EQ(c.listen_drops, 8u);
}

TEST(KernelCountersTest, RefusesMalformedTcpExt) {
  EXPECT_THROW(ParseTcpExt("IpExt: A\nIpExt: 1\n"), std::runtime_error);
  EXPECT_THROW(ParseTcpExt("TcpExt: TW TWRecycled\nTcpExt: 1\n"),
               std::runtime_error);
  EXPECT_THROW(ParseTcpExt("TcpExt: TW\nTcpExt: x\n"), std::runtime_error);
  try {
    ParseTcpExt("TcpExt: TW\nTcpExt: 1\n");
    ADD_FAILURE() << "a missing counter must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("TWRecycled"), std::string::npos)
        << e.what();
  }
}

TEST(KernelCountersTest, DeltaSubtractsFieldByField) {
  const TcpExtCounters before = ParseTcpExt(kNetstatSample);
  TcpExtCounters after = before;
  after.tw += 4;
  after.tw_overflow += 9;
  after.listen_drops += 1;
  const TcpExtCounters d = Delta(after, before);
  EXPECT_EQ(d.tw, 4u);
  EXPECT_EQ(d.tw_recycled, 0u);
  EXPECT_EQ(d.tw_killed, 0u);
  EXPECT_EQ(d.tw_overflow, 9u);
  EXPECT_EQ(d.listen_overflows, 0u);
  EXPECT_EQ(d.listen_drops, 1u);
}

TEST(KernelCountersTest, ParsesSockstat) {
  const SockstatTcp s = ParseSockstat(
      "sockets: used 11\n"
      "TCP: inuse 4 orphan 1 tw 10 alloc 6 mem 2\n"
      "UDP: inuse 0 mem 0\n");
  EXPECT_EQ(s.inuse, 4u);
  EXPECT_EQ(s.orphan, 1u);
  EXPECT_EQ(s.tw, 10u);
  EXPECT_EQ(s.alloc, 6u);
  EXPECT_THROW(ParseSockstat("sockets: used 1\n"), std::runtime_error);
  EXPECT_THROW(ParseSockstat("TCP: inuse 1 orphan\n"), std::runtime_error);
}

// Abridged from Linux 6.18: MaxConn is -1, and Tcp: is not TcpExt:.
constexpr char kSnmpSample[] =
    "Ip: Forwarding DefaultTTL\n"
    "Ip: 1 64\n"
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens "
    "AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs "
    "OutRsts InCsumErrors\n"
    "Tcp: 1 200 120000 -1 11 12 13 14 2 15 16 17 18 19 0\n"
    "Udp: InDatagrams NoPorts\n"
    "Udp: 0 0\n";

TEST(KernelCountersTest, ParsesSnmpTcpByName) {
  const TcpCounters c = ParseTcp(kSnmpSample);
  EXPECT_EQ(c.active_opens, 11u);
  EXPECT_EQ(c.passive_opens, 12u);
  EXPECT_EQ(c.attempt_fails, 13u);
  EXPECT_EQ(c.estab_resets, 14u);
  EXPECT_EQ(c.in_segs, 15u);
  EXPECT_EQ(c.out_segs, 16u);
  EXPECT_EQ(c.retrans_segs, 17u);
  EXPECT_EQ(c.in_errs, 18u);
  EXPECT_EQ(c.out_rsts, 19u);
}

TEST(KernelCountersTest, RefusesMalformedSnmpTcp) {
  EXPECT_THROW(ParseTcp("Udp: InDatagrams\nUdp: 1\n"), std::runtime_error);
  EXPECT_THROW(ParseTcp("Tcp: OutRsts InErrs\nTcp: 1\n"), std::runtime_error);
  // A netstat TcpExt line is not snmp's Tcp line.
  EXPECT_THROW(ParseTcp("TcpExt: OutRsts\nTcpExt: 1\n"), std::runtime_error);
  try {
    ParseTcp(
        "Tcp: ActiveOpens PassiveOpens AttemptFails EstabResets InSegs "
        "OutSegs RetransSegs InErrs OutRsts\n"
        "Tcp: 1 2 3 4 5 6 7 8 -1\n");
    ADD_FAILURE() << "a negative counter must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("OutRsts"), std::string::npos)
        << e.what();
  }
}

TEST(KernelCountersTest, TcpDeltaSubtractsFieldByField) {
  const TcpCounters before = ParseTcp(kSnmpSample);
  TcpCounters after = before;
  after.out_rsts += 3;
  after.active_opens += 7;
  const TcpCounters d = Delta(after, before);
  EXPECT_EQ(d.out_rsts, 3u);
  EXPECT_EQ(d.active_opens, 7u);
  EXPECT_EQ(d.passive_opens, 0u);
  EXPECT_EQ(d.estab_resets, 0u);
  EXPECT_EQ(d.in_errs, 0u);
}

TEST(KernelCountersTest, ParsesTcpExtAbortsByName) {
  const TcpExtAborts a = ParseTcpExtAborts(
      "TcpExt: TW TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory "
      "TCPAbortOnTimeout TCPAbortOnLinger\n"
      "TcpExt: 9 1 2 3 100 4\n");
  EXPECT_EQ(a.on_data, 1u);
  EXPECT_EQ(a.on_close, 2u);
  EXPECT_EQ(a.on_memory, 3u);
  EXPECT_EQ(a.on_linger, 4u);
  EXPECT_EQ(a.total(), 10u);  // TCPAbortOnTimeout sends no RST: not in it
  TcpExtAborts after = a;
  after.on_data += 5;
  EXPECT_EQ(Delta(after, a).total(), 5u);
  EXPECT_THROW(ParseTcpExtAborts(kNetstatSample), std::runtime_error);
}

TEST(KernelCountersTest, ReadsTheCallingThreadsFiles) {
  EXPECT_NO_THROW(ReadTcpExt());
  EXPECT_NO_THROW(ReadSockstat());
  EXPECT_NO_THROW(ReadTcp());
  EXPECT_NO_THROW(ReadTcpExtAborts());
}

// SO_LINGER {1, 0}: close(2) sends one RST (RFC 793's ABORT). The peer reads
// ECONNRESET, and both ends leave ESTABLISHED for CLOSED.
TEST(KernelCountersTest, LingerZeroCloseSendsExactlyOneRst) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    const TcpCounters before = ReadTcp();
    const TcpExtAborts aborts_before = ReadTcpExtAborts();
    EXPECT_EQ(before.out_rsts, 0u);  // a new namespace starts from zero
    const Listener listener = Listen();
    std::optional<Flow> flow = TryConnect(listener);
    ASSERT_TRUE(flow.has_value()) << std::strerror(errno);
    const linger abort_on_close{1, 0};
    ASSERT_EQ(setsockopt(flow->client.get(), SOL_SOCKET, SO_LINGER,
                         &abort_on_close, sizeof(abort_on_close)),
              0);
    flow->client.reset();
    const timeval timeout{2, 0};
    ASSERT_EQ(setsockopt(flow->server.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                         sizeof(timeout)),
              0);
    char byte = 0;
    EXPECT_EQ(recv(flow->server.get(), &byte, 1, 0), -1);
    EXPECT_EQ(errno, ECONNRESET) << std::strerror(errno);
    flow->server.reset();
    const TcpCounters d = Delta(ReadTcp(), before);
    EXPECT_EQ(d.out_rsts, 1u);
    EXPECT_EQ(d.active_opens, 1u);
    EXPECT_EQ(d.passive_opens, 1u);
    EXPECT_EQ(d.estab_resets, 2u);  // the aborting end and the reset one
    EXPECT_EQ(d.in_errs, 0u);
    EXPECT_EQ(Delta(ReadTcpExtAborts(), aborts_before).total(), 1u);
    EXPECT_EQ(ReadSockstat().tw, 0u);
  });
}

TEST(KernelCountersTest, ServerClosedConnectionsCountAsTimeWait) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    const TcpExtCounters before = ReadTcpExt();
    EXPECT_EQ(before.tw, 0u);  // a new namespace starts from zero
    EXPECT_EQ(ReadSockstat().tw, 0u);
    const Listener listener = Listen();
    ServerClosedConnections(listener, kConnections);
    ASSERT_TRUE(WaitFor([] { return ReadSockstat().tw == kConnections; }))
        << "sockstat tw " << ReadSockstat().tw;
    const TcpExtCounters delta = Delta(ReadTcpExt(), before);
    EXPECT_EQ(delta.tw, kConnections);
    EXPECT_EQ(delta.tw_overflow, 0u);
    EXPECT_EQ(delta.tw_recycled, 0u);
    EXPECT_EQ(delta.listen_overflows, 0u);
    EXPECT_EQ(delta.listen_drops, 0u);
    EXPECT_EQ(CensusTimeWait(), kConnections);
    EXPECT_EQ(ReadSockstat().inuse, 1u);  // the listener; TIME_WAIT not in it
  });
}

TEST(KernelCountersTest, NoBucketsMeansNoTimeWaitAndOverflowCounted) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    TcpKnobs knobs;
    knobs.max_tw_buckets = 0;
    ASSERT_EQ(ApplyTcpKnobs(knobs), "");
    const TcpExtCounters before = ReadTcpExt();
    const Listener listener = Listen();
    ServerClosedConnections(listener, kConnections);
    ASSERT_TRUE(WaitFor([&] {
      return Delta(ReadTcpExt(), before).tw_overflow >= kConnections;
    }));
    const TcpExtCounters delta = Delta(ReadTcpExt(), before);
    EXPECT_EQ(delta.tw_overflow, kConnections);
    EXPECT_EQ(delta.tw, 0u);
    EXPECT_EQ(ReadSockstat().tw, 0u);
    EXPECT_EQ(CensusTimeWait(), 0u);
  });
}

// One ephemeral port and a client that closes first: the next connect() to
// the same server needs that port's TIME_WAIT. tcp_tw_reuse=1 (with a 1 ms
// tcp_tw_reuse_delay) lets connect() take it over, which TWRecycled counts;
// tcp_tw_reuse=0 leaves the port taken: EADDRNOTAVAIL.
void ReconnectThroughOnePort(int tw_reuse, int rounds, int* connected,
                             int* last_errno) {
  // The listener first: bind() to port 0 draws from the same range, and would
  // take its one port.
  const Listener listener = Listen();
  TcpKnobs knobs;
  knobs.tw_reuse = tw_reuse;
  knobs.tw_reuse_delay_ms = 1;
  knobs.port_range = {40000, 40000};
  ASSERT_EQ(ApplyTcpKnobs(knobs), "");
  *connected = 0;
  *last_errno = 0;
  for (int round = 0; round < rounds; ++round) {
    std::optional<Flow> flow = TryConnect(listener);
    if (!flow) {
      *last_errno = errno;
      continue;
    }
    ++*connected;
    CloseInOrder(flow->client, flow->server);
    ASSERT_TRUE(WaitFor([] { return ReadSockstat().tw == 1; }));
    // Past tcp_tw_reuse_delay (ms) for the next round.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(KernelCountersTest, TwReuseRecyclesTimeWaitForConnect) {
  SKIP_WITHOUT_NETNS();
  SKIP_WITHOUT_TW_REUSE_DELAY();  // the rounds are 1 ms apart
  InFreshNetns([] {
    const TcpExtCounters before = ReadTcpExt();
    int connected = 0;
    int last_errno = 0;
    ASSERT_NO_FATAL_FAILURE(
        ReconnectThroughOnePort(1, kRounds, &connected, &last_errno));
    EXPECT_EQ(connected, kRounds) << std::strerror(last_errno);
    const TcpExtCounters delta = Delta(ReadTcpExt(), before);
    EXPECT_EQ(delta.tw_recycled, static_cast<std::uint64_t>(kRounds - 1));
    EXPECT_EQ(delta.tw, static_cast<std::uint64_t>(kRounds));
    EXPECT_EQ(ReadSockstat().tw, 1u);
  });
  InFreshNetns([] {
    const TcpExtCounters before = ReadTcpExt();
    int connected = 0;
    int last_errno = 0;
    ASSERT_NO_FATAL_FAILURE(
        ReconnectThroughOnePort(0, kRounds, &connected, &last_errno));
    EXPECT_EQ(connected, 1);
    EXPECT_EQ(last_errno, EADDRNOTAVAIL) << std::strerror(last_errno);
    EXPECT_EQ(Delta(ReadTcpExt(), before).tw_recycled, 0u);
  });
}

}  // namespace
}  // namespace twbench
