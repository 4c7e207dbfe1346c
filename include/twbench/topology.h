// The veth topology: a client and a server network namespace joined by a veth
// pair, so that connections take a routed path through a real device rather
// than loopback (tcp_tw_reuse=2, the default, reuses TIME_WAIT for loopback
// connections only, so loopback alone cannot show what it does elsewhere).
//
// Both namespaces are anonymous (never named under /run/netns): they live as
// long as their NetNamespace owners, or any thread or socket left in them.
// Deleting one end of a veth deletes both, so the pair dies with whichever
// namespace goes first.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "twbench/netns.h"
#include "twbench/scenario.h"

namespace twbench {

struct VethTopology {
  NetNamespace client;  // owner of the client namespace
  NetNamespace server;  // owner of the server namespace
  // Benchmarking ranges (RFC 2544 / RFC 5180), never routed on the Internet.
  // The IPv6 ones are "" when the kernel has no IPv6.
  std::string client_ipv4 = "198.18.0.1";
  std::string server_ipv4 = "198.18.0.2";
  std::string client_ipv6 = "2001:2::1";
  std::string server_ipv6 = "2001:2::2";
  // The veth ends, one in each namespace.
  std::string client_ifname = "veth-client";
  std::string server_ifname = "veth-server";
  // Further client addresses (Scenario::client_addrs > 1): 198.18.0.3 ...
  // and 2001:2::3 ..., as many as asked for beyond the first.
  std::vector<std::string> client_extra_ipv4;
  std::vector<std::string> client_extra_ipv6;
};

// The most client addresses a veth topology has: 198.18.0.1 and .3 to .254.
inline constexpr int kMaxVethClientAddrs = 253;

// The client's addresses of `family`, its own first, as socket addresses
// with port 0: what client sockets bind with client_addrs > 1.
std::vector<sockaddr_storage> ClientSources(const VethTopology& topology,
                                            Family family);

// Creates both namespaces (lo up in each) and the veth pair between them,
// assigns the addresses (IPv4 /24; IPv6 /64 without duplicate address
// detection), brings both ends up and waits (at most 2 s) until every address
// can be bound. Works on a helper thread: the calling thread stays in its
// namespace. Returns nullopt and the failing step (the call and strerror) in
// *why on failure; nothing is left behind then.
// `client_addrs` (1 .. kMaxVethClientAddrs): addresses of the client's end.
std::optional<VethTopology> MakeVethTopology(std::string* why,
                                             int client_addrs = 1);

}  // namespace twbench
