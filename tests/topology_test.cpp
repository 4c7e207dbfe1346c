// The veth topology against the real kernel: a listener in the server
// namespace accepts a client of the client namespace over IPv4 and IPv6, the
// path runs through the veth (not loopback), the caller's thread stays where
// it was, and nothing is left open once the topology is gone.
#include "twbench/topology.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "netns_skip.h"
#include "twbench/netns.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

[[noreturn]] void Die(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

// Every connect and accept here is bounded: a lost packet fails the test in
// this time instead of hanging it.
constexpr int kWaitMs = 2000;

std::size_t CountOpenFds() {
  std::size_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) Die("opendir(/proc/self/fd)");
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

struct Endpoint {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* addr() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

Endpoint MakeEndpoint(int family, const std::string& address, int port) {
  Endpoint ep;
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &sin.sin_addr) != 1) {
      throw std::invalid_argument(address);
    }
    std::memcpy(&ep.storage, &sin, sizeof(sin));
    ep.len = sizeof(sin);
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, address.c_str(), &sin6.sin6_addr) != 1) {
      throw std::invalid_argument(address);
    }
    std::memcpy(&ep.storage, &sin6, sizeof(sin6));
    ep.len = sizeof(sin6);
  }
  return ep;
}

// "198.18.0.1" or "2001:2::1" of a socket address, port left out.
std::string AddressText(const sockaddr_storage& storage) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* src = nullptr;
  if (storage.ss_family == AF_INET) {
    src = &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr;
  } else {
    src = &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr;
  }
  if (inet_ntop(storage.ss_family, src, text.data(), text.size()) == nullptr) {
    Die("inet_ntop");
  }
  return text.data();
}

int PortOf(const sockaddr_storage& storage) {
  return storage.ss_family == AF_INET
             ? ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port)
             : ntohs(
                   reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

sockaddr_storage LocalAddress(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) < 0) {
    Die("getsockname");
  }
  return storage;
}

// A listener on address:0 made by a thread of `ns`.
UniqueFd ListenIn(const NetNamespace& ns, int family,
                  const std::string& address) {
  UniqueFd fd;
  RunIn(ns, [&] {
    fd.reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) Die("socket");
    const Endpoint ep = MakeEndpoint(family, address, 0);
    if (bind(fd.get(), ep.addr(), ep.len) < 0) Die("bind(" + address + ")");
    if (listen(fd.get(), 16) < 0) Die("listen");
  });
  return fd;
}

// Connects from a thread of `ns`; the connected socket, or the errno of the
// failed connect in *err. A blocking connect, bounded by SO_SNDTIMEO.
UniqueFd ConnectIn(const NetNamespace& ns, int family,
                   const std::string& address, int port, int* err) {
  UniqueFd fd;
  *err = 0;
  RunIn(ns, [&] {
    fd.reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) Die("socket");
    const timeval timeout{kWaitMs / 1000, 0};
    if (setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout,
                   sizeof(timeout)) < 0) {
      Die("setsockopt(SO_SNDTIMEO)");
    }
    const Endpoint ep = MakeEndpoint(family, address, port);
    if (connect(fd.get(), ep.addr(), ep.len) < 0) {
      *err = errno;
      fd.reset();
    }
  });
  return fd;
}

// Accepts one connection within kWaitMs; invalid if none came. The listener
// carries its namespace, so any thread may accept.
UniqueFd AcceptWithin(int listener, sockaddr_storage* peer) {
  pollfd pfd{listener, POLLIN, 0};
  if (poll(&pfd, 1, kWaitMs) <= 0) return UniqueFd();
  socklen_t len = sizeof(*peer);
  return UniqueFd(
      accept4(listener, reinterpret_cast<sockaddr*>(peer), &len, SOCK_CLOEXEC));
}

std::optional<VethTopology> MakeOrFail() {
  std::string why;
  std::optional<VethTopology> topology = MakeVethTopology(&why);
  EXPECT_TRUE(topology.has_value()) << why;
  return topology;
}

// A listener on the server address accepts the client, and both ends see
// the other's topology address: the connection crossed the veth.
void ExpectConnects(const VethTopology& topology, int family) {
  const std::string& server_addr =
      family == AF_INET ? topology.server_ipv4 : topology.server_ipv6;
  const std::string& client_addr =
      family == AF_INET ? topology.client_ipv4 : topology.client_ipv6;
  const UniqueFd listener = ListenIn(topology.server, family, server_addr);
  const int port = PortOf(LocalAddress(listener.get()));
  int err = 0;
  const UniqueFd client =
      ConnectIn(topology.client, family, server_addr, port, &err);
  ASSERT_TRUE(client.valid())
      << "connect(" << server_addr << "): " << std::strerror(err);
  EXPECT_EQ(AddressText(LocalAddress(client.get())), client_addr);
  sockaddr_storage peer{};
  const UniqueFd accepted = AcceptWithin(listener.get(), &peer);
  ASSERT_TRUE(accepted.valid()) << "no connection accepted within 2 s";
  EXPECT_EQ(AddressText(peer), client_addr);
  EXPECT_EQ(PortOf(peer), PortOf(LocalAddress(client.get())));
  EXPECT_EQ(AddressText(LocalAddress(accepted.get())), server_addr);
}

TEST(TopologyTest, Ipv4ListenerInServerAcceptsClient) {
  SKIP_WITHOUT_NETNS();
  const std::optional<VethTopology> topology = MakeOrFail();
  ASSERT_TRUE(topology.has_value());
  EXPECT_EQ(topology->client_ipv4, "198.18.0.1");
  EXPECT_EQ(topology->server_ipv4, "198.18.0.2");
  ExpectConnects(*topology, AF_INET);
}

TEST(TopologyTest, Ipv6ListenerInServerAcceptsClient) {
  SKIP_WITHOUT_NETNS();
  const std::optional<VethTopology> topology = MakeOrFail();
  ASSERT_TRUE(topology.has_value());
  if (topology->server_ipv6.empty()) GTEST_SKIP() << "kernel without IPv6";
  EXPECT_EQ(topology->client_ipv6, "2001:2::1");
  EXPECT_EQ(topology->server_ipv6, "2001:2::2");
  ExpectConnects(*topology, AF_INET6);
}

TEST(TopologyTest, NamespacesAreFreshAndCallerStaysPut) {
  SKIP_WITHOUT_NETNS();
  const std::string before = CurrentNetnsId();
  const std::optional<VethTopology> topology = MakeOrFail();
  ASSERT_TRUE(topology.has_value());
  EXPECT_EQ(CurrentNetnsId(), before);
  EXPECT_NE(topology->client.id(), topology->server.id());
  EXPECT_NE(topology->client.id(), before);
  EXPECT_NE(topology->server.id(), before);
  // Each end exists in its own namespace only.
  RunIn(topology->client, [&] {
    EXPECT_NE(if_nametoindex(topology->client_ifname.c_str()), 0u);
    EXPECT_EQ(if_nametoindex(topology->server_ifname.c_str()), 0u);
  });
  RunIn(topology->server, [&] {
    EXPECT_NE(if_nametoindex(topology->server_ifname.c_str()), 0u);
    EXPECT_EQ(if_nametoindex(topology->client_ifname.c_str()), 0u);
  });
}

TEST(TopologyTest, PathIsNotLoopback) {
  SKIP_WITHOUT_NETNS();
  const std::optional<VethTopology> topology = MakeOrFail();
  ASSERT_TRUE(topology.has_value());
  const UniqueFd listener =
      ListenIn(topology->server, AF_INET, topology->server_ipv4);
  const int port = PortOf(LocalAddress(listener.get()));
  // The server's address is not local to the client namespace: traffic to
  // it must leave through a device, and the only one with a route is the
  // veth.
  RunIn(topology->client, [&] {
    const UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid());
    const Endpoint ep = MakeEndpoint(AF_INET, topology->server_ipv4, 0);
    const int rc = bind(fd.get(), ep.addr(), ep.len);
    const int bind_err = errno;
    EXPECT_EQ(rc, -1);
    EXPECT_EQ(bind_err, EADDRNOTAVAIL) << std::strerror(bind_err);
  });
  // The client's loopback is its own: the server's port is not there.
  int err = 0;
  UniqueFd via_lo =
      ConnectIn(topology->client, AF_INET, "127.0.0.1", port, &err);
  EXPECT_FALSE(via_lo.valid());
  EXPECT_EQ(err, ECONNREFUSED) << std::strerror(err);
  // Through the veth the same port answers, from the client's veth address.
  const UniqueFd client =
      ConnectIn(topology->client, AF_INET, topology->server_ipv4, port, &err);
  ASSERT_TRUE(client.valid()) << std::strerror(err);
  EXPECT_EQ(AddressText(LocalAddress(client.get())), topology->client_ipv4);
}

TEST(TopologyTest, NoFdLeftAfterTwoTopologiesInARow) {
  SKIP_WITHOUT_NETNS();
  const std::size_t before = CountOpenFds();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    {
      const std::optional<VethTopology> topology = MakeOrFail();
      ASSERT_TRUE(topology.has_value());
      ExpectConnects(*topology, AF_INET);
      if (!topology->server_ipv6.empty()) ExpectConnects(*topology, AF_INET6);
    }
    EXPECT_EQ(CountOpenFds(), before);
  }
}

}  // namespace
}  // namespace twbench
