#include "twbench/source_addresses.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "twbench/error_name.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

socklen_t LengthOf(sa_family_t family) {
  return family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// The address bytes of an AF_INET or AF_INET6 sockaddr, and their length.
const unsigned char* Bytes(const sockaddr* a, std::size_t* n) {
  if (a->sa_family == AF_INET6) {
    *n = 16;
    return reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr.s6_addr;
  }
  *n = 4;
  return reinterpret_cast<const unsigned char*>(
      &reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr);
}

bool SameAddress(const sockaddr* a, const sockaddr* b) {
  if (a->sa_family != b->sa_family) return false;
  std::size_t n = 0, m = 0;
  const unsigned char* x = Bytes(a, &n);
  const unsigned char* y = Bytes(b, &m);
  return std::memcmp(x, y, n) == 0;
}

// a and b agree on every bit the mask has set.
bool SamePrefix(const sockaddr* a, const sockaddr* b, const sockaddr* mask) {
  std::size_t n = 0;
  const unsigned char* x = Bytes(a, &n);
  const unsigned char* y = Bytes(b, &n);
  const unsigned char* k = Bytes(mask, &n);
  for (std::size_t i = 0; i < n; ++i) {
    if ((x[i] & k[i]) != (y[i] & k[i])) return false;
  }
  return true;
}

bool LinkLocal(const sockaddr* a) {
  return a->sa_family == AF_INET6 &&
         IN6_IS_ADDR_LINKLOCAL(
             &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr);
}

sockaddr_storage WithoutPort(const sockaddr* a) {
  sockaddr_storage out{};
  std::memcpy(&out, a, LengthOf(a->sa_family));
  if (a->sa_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&out)->sin6_port = 0;
  } else {
    reinterpret_cast<sockaddr_in*>(&out)->sin_port = 0;
  }
  return out;
}

}  // namespace

std::string AddressText(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "?";
  const auto* a = reinterpret_cast<const sockaddr*>(&address);
  if (a->sa_family != AF_INET && a->sa_family != AF_INET6) return "?";
  std::size_t n = 0;
  const unsigned char* bytes = Bytes(a, &n);
  if (inet_ntop(a->sa_family, bytes, text, sizeof text) == nullptr) return "?";
  return text;
}

std::vector<sockaddr_storage> SourceAddressesToward(
    const sockaddr_storage& server, std::string* why) {
  const sa_family_t family = server.ss_family;
  // Connecting a UDP socket sends nothing; it asks the routing table which
  // interface and source address a connection to the server would use.
  UniqueFd udp(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!udp) {
    *why = "socket: " + ErrnoName(errno);
    return {};
  }
  if (connect(udp.get(), reinterpret_cast<const sockaddr*>(&server),
              LengthOf(family)) != 0) {
    *why = "no route to " + AddressText(server) + ": " + ErrnoName(errno);
    return {};
  }
  sockaddr_storage first{};
  socklen_t length = sizeof first;
  if (getsockname(udp.get(), reinterpret_cast<sockaddr*>(&first), &length) !=
      0) {
    *why = "getsockname: " + ErrnoName(errno);
    return {};
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    *why = "getifaddrs: " + ErrnoName(errno);
    return {};
  }
  const std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owned(list,
                                                               freeifaddrs);
  const auto* source = reinterpret_cast<const sockaddr*>(&first);
  const ifaddrs* home = nullptr;
  for (const ifaddrs* p = list; p != nullptr && home == nullptr;
       p = p->ifa_next) {
    if (p->ifa_addr != nullptr && p->ifa_netmask != nullptr &&
        SameAddress(p->ifa_addr, source)) {
      home = p;
    }
  }
  if (home == nullptr) {
    *why = "the route to " + AddressText(server) + " leaves from " +
           AddressText(first) + ", which no interface lists";
    return {};
  }
  std::vector<sockaddr_storage> out{WithoutPort(source)};
  for (const ifaddrs* p = list; p != nullptr; p = p->ifa_next) {
    const sockaddr* a = p->ifa_addr;
    if (a == nullptr || a->sa_family != family ||
        std::strcmp(p->ifa_name, home->ifa_name) != 0 ||
        SameAddress(a, source) || LinkLocal(a) ||
        !SamePrefix(a, source, home->ifa_netmask)) {
      continue;
    }
    out.push_back(WithoutPort(a));
  }
  return out;
}

}  // namespace twbench
