// The veth topology: two fresh namespaces, a veth pair created in the client
// namespace with its peer placed straight into the server namespace, then
// each end configured from a thread inside its own namespace (a netlink
// socket, like a /proc/sys/net file, belongs to the namespace it was opened
// in).
#include "twbench/topology.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "twbench/listener.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

using Clock = std::chrono::steady_clock;

// IPv6 addresses skip DAD (IFA_F_NODAD) but still wait for the veth carrier,
// which comes when both ends are up; this bounds that wait.
constexpr auto kAddressDeadline = std::chrono::seconds(2);

std::string ErrnoText(const std::string& call, int err) {
  return call + ": " + std::strerror(err);
}

// A NETLINK_ROUTE socket of the calling thread's namespace that sends one
// request at a time and waits for its ACK, so every error names its request.
class Rtnl {
 public:
  Rtnl() : nl_(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC)) {}
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;
  ~Rtnl() {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }

  // "" when the socket is ready, else the failing call.
  std::string Open() {
    if (nl_ == nullptr) {
      return ErrnoText("mnl_socket_open(NETLINK_ROUTE)", errno);
    }
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
      return ErrnoText("mnl_socket_bind(NETLINK_ROUTE)", errno);
    }
    // The ACK comes back at once; the timeout only keeps a broken kernel
    // from hanging the run.
    const timeval timeout{5, 0};
    if (setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                   sizeof(timeout)) < 0) {
      return ErrnoText("setsockopt(SO_RCVTIMEO) on NETLINK_ROUTE", errno);
    }
    return "";
  }

  // A zeroed message of `type` with ACK requested, ready for attributes.
  nlmsghdr* Start(std::uint16_t type, std::uint16_t flags) {
    buf_.fill(0);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    nlh->nlmsg_seq = ++seq_;
    return nlh;
  }

  // Sends the message Start returned and waits for the kernel's verdict.
  std::string Send(const nlmsghdr* nlh, const std::string& what) {
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
      return ErrnoText("mnl_socket_sendto(" + what + ")", errno);
    }
    const ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
    if (n < 0) return ErrnoText("mnl_socket_recvfrom(" + what + ")", errno);
    // No data callback: an ACK (error 0) stops the run, an error sets errno.
    if (mnl_cb_run(buf_.data(), static_cast<std::size_t>(n), seq_,
                   mnl_socket_get_portid(nl_), nullptr,
                   nullptr) == MNL_CB_ERROR) {
      return ErrnoText(what, errno);
    }
    return "";
  }

 private:
  mnl_socket* nl_;
  std::uint32_t seq_ = 0;
  // Requests and ACKs here are a few hundred bytes at most.
  alignas(nlmsghdr) std::array<char, 8192> buf_{};
};

// RTM_NEWLINK kind "veth": the first end stays in the calling thread's
// namespace, the peer is created directly in the namespace of peer_ns_fd, so
// it never appears where it does not belong.
std::string CreateVethPair(Rtnl& rtnl, const std::string& name,
                           const std::string& peer_name, int peer_ns_fd) {
  nlmsghdr* nlh = rtnl.Start(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifm = static_cast<ifinfomsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  // VETH_INFO_PEER carries a whole ifinfomsg before the peer's attributes;
  // libmnl has no call for a header inside a nest, so reserve it by hand
  // (the buffer is zeroed, which is the header we want).
  nlh->nlmsg_len += MNL_ALIGN(sizeof(ifinfomsg));
  mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name.c_str());
  mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_ns_fd));
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  return rtnl.Send(nlh, "RTM_NEWLINK veth " + name + " peer " + peer_name);
}

// ifi_change = IFF_UP changes only that flag, unlike SIOCSIFFLAGS.
std::string SetLinkUp(Rtnl& rtnl, const std::string& ifname) {
  const unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return ErrnoText("if_nametoindex(" + ifname + ")", errno);
  nlmsghdr* nlh = rtnl.Start(RTM_NEWLINK, 0);
  auto* ifm = static_cast<ifinfomsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = static_cast<int>(index);
  ifm->ifi_flags = IFF_UP;
  ifm->ifi_change = IFF_UP;
  return rtnl.Send(nlh, "RTM_NEWLINK " + ifname + " up");
}

// The address as bytes of its family; false when it does not parse.
bool ParseAddress(int family, const std::string& text,
                  std::array<unsigned char, sizeof(in6_addr)>* bytes) {
  return inet_pton(family, text.c_str(), bytes->data()) == 1;
}

std::size_t AddressSize(int family) {
  return family == AF_INET ? sizeof(in_addr) : sizeof(in6_addr);
}

std::string AddAddress(Rtnl& rtnl, const std::string& ifname, int family,
                       const std::string& address, unsigned prefix_len) {
  const std::string what = "RTM_NEWADDR " + address + "/" +
                           std::to_string(prefix_len) + " on " + ifname;
  std::array<unsigned char, sizeof(in6_addr)> bytes{};
  if (!ParseAddress(family, address, &bytes)) return what + ": bad address";
  const unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return ErrnoText("if_nametoindex(" + ifname + ")", errno);
  nlmsghdr* nlh = rtnl.Start(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifa = static_cast<ifaddrmsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = static_cast<std::uint8_t>(family);
  ifa->ifa_prefixlen = static_cast<std::uint8_t>(prefix_len);
  // Without NODAD an IPv6 address stays tentative (unbindable) for about a
  // second of duplicate address detection; no one else is on this link.
  ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = index;
  mnl_attr_put(nlh, IFA_LOCAL, AddressSize(family), bytes.data());
  mnl_attr_put(nlh, IFA_ADDRESS, AddressSize(family), bytes.data());
  return rtnl.Send(nlh, what);
}

// Writes a per-device IPv6 sysctl of the calling thread's namespace.
std::string WriteIpv6Conf(const std::string& ifname, const std::string& key,
                          const std::string& value) {
  const std::string path = "/proc/sys/net/ipv6/conf/" + ifname + "/" + key;
  const UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoText("open(" + path + ")", errno);
  const std::string line = value + "\n";
  if (write(fd.get(), line.data(), line.size()) !=
      static_cast<ssize_t>(line.size())) {
    return ErrnoText("write(" + path + ", " + value + ")", errno);
  }
  return "";
}

// One end's settings, applied from a thread inside that end's namespace.
struct End {
  std::string ifname;
  std::string ipv4;
  std::string ipv6;  // "" for IPv4 only
  std::vector<std::string> extra_ipv4;
  std::vector<std::string> extra_ipv6;
};

std::string ConfigureEnd(const End& end) {
  Rtnl rtnl;
  if (std::string why = rtnl.Open(); !why.empty()) return why;
  if (!end.ipv6.empty()) {
    // A new namespace may inherit disable_ipv6=1 for new devices
    // (net.core.devconf_inherit_init_net); accept_dad=0 also spares the
    // link-local address its DAD.
    for (const char* key : {"disable_ipv6", "accept_dad"}) {
      if (std::string why = WriteIpv6Conf(end.ifname, key, "0"); !why.empty()) {
        return why;
      }
    }
  }
  if (std::string why = AddAddress(rtnl, end.ifname, AF_INET, end.ipv4, 24);
      !why.empty()) {
    return why;
  }
  if (!end.ipv6.empty()) {
    if (std::string why = AddAddress(rtnl, end.ifname, AF_INET6, end.ipv6, 64);
        !why.empty()) {
      return why;
    }
  }
  for (const std::string& a : end.extra_ipv4) {
    if (std::string why = AddAddress(rtnl, end.ifname, AF_INET, a, 24);
        !why.empty()) {
      return why;
    }
  }
  for (const std::string& a : end.extra_ipv6) {
    if (std::string why = AddAddress(rtnl, end.ifname, AF_INET6, a, 64);
        !why.empty()) {
      return why;
    }
  }
  return SetLinkUp(rtnl, end.ifname);
}

// bind(address:0) succeeds once the address is assigned and not tentative.
int TryBind(int family, const std::string& address) {
  sockaddr_storage storage{};
  socklen_t len = 0;
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &sin.sin_addr);
    std::memcpy(&storage, &sin, sizeof(sin));
    len = sizeof(sin);
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, address.c_str(), &sin6.sin6_addr);
    std::memcpy(&storage, &sin6, sizeof(sin6));
    len = sizeof(sin6);
  }
  const UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) < 0) {
    return errno;
  }
  return 0;
}

// Polls until every address of `end` binds in the calling thread's namespace.
std::string WaitBindable(const End& end, Clock::time_point deadline) {
  std::vector<std::pair<int, std::string>> all = {{AF_INET, end.ipv4},
                                                  {AF_INET6, end.ipv6}};
  for (const std::string& a : end.extra_ipv4) all.emplace_back(AF_INET, a);
  for (const std::string& a : end.extra_ipv6) all.emplace_back(AF_INET6, a);
  for (const auto& [family, address] : all) {
    if (address.empty()) continue;
    int err = TryBind(family, address);
    while (err == EADDRNOTAVAIL && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      err = TryBind(family, address);
    }
    if (err != 0) {
      return ErrnoText(
          "bind(" + address + ":0) on " + end.ifname + " within 2 s of setup",
          err);
    }
  }
  return "";
}

// The whole setup, on a thread that is free to change namespace.
std::string Build(VethTopology* topology) {
  std::string why;
  topology->server = NetNamespace::CreateAndEnter(&why);
  if (!topology->server.valid()) return "server namespace: " + why;
  topology->client = NetNamespace::CreateAndEnter(&why);
  if (!topology->client.valid()) return "client namespace: " + why;
  if (!topology->client.ipv6() || !topology->server.ipv6()) {
    topology->client_ipv6.clear();
    topology->server_ipv6.clear();
    topology->client_extra_ipv6.clear();
  }
  const End client{topology->client_ifname, topology->client_ipv4,
                   topology->client_ipv6, topology->client_extra_ipv4,
                   topology->client_extra_ipv6};
  const End server{topology->server_ifname,
                   topology->server_ipv4,
                   topology->server_ipv6,
                   {},
                   {}};
  {
    Rtnl rtnl;
    if (why = rtnl.Open(); !why.empty()) return why;
    why = CreateVethPair(rtnl, client.ifname, server.ifname,
                         topology->server.fd());
    if (!why.empty()) return why;
  }
  if (why = ConfigureEnd(client); !why.empty()) return why;
  if (!Enter(topology->server, &why)) return why;
  if (why = ConfigureEnd(server); !why.empty()) return why;
  const Clock::time_point deadline = Clock::now() + kAddressDeadline;
  if (why = WaitBindable(server, deadline); !why.empty()) return why;
  if (!Enter(topology->client, &why)) return why;
  return WaitBindable(client, deadline);
}

}  // namespace

std::vector<sockaddr_storage> ClientSources(const VethTopology& topology,
                                            Family family) {
  const bool v4 = family == Family::kIPv4;
  std::vector<std::string> all = {v4 ? topology.client_ipv4
                                     : topology.client_ipv6};
  const auto& extra =
      v4 ? topology.client_extra_ipv4 : topology.client_extra_ipv6;
  all.insert(all.end(), extra.begin(), extra.end());
  std::vector<sockaddr_storage> out;
  for (const std::string& a : all) {
    if (auto ss = NumericAddress(family, a, 0)) out.push_back(*ss);
  }
  return out;
}

std::optional<VethTopology> MakeVethTopology(std::string* why,
                                             int client_addrs) {
  std::optional<VethTopology> result;
  std::string failure;
  if (client_addrs < 1 || client_addrs > kMaxVethClientAddrs) {
    *why = "veth topology: client_addrs " + std::to_string(client_addrs) +
           " is not 1.." + std::to_string(kMaxVethClientAddrs);
    return result;
  }
  // A helper thread, so the caller's thread never changes namespace; the
  // thread's own membership ends with it, leaving the owners' fds as the
  // only references. On failure the half-made topology dies with `topology`.
  std::thread builder([&result, &failure, client_addrs] {
    VethTopology topology;
    for (int i = 1; i < client_addrs; ++i) {
      // .1 is the client's own, .2 the server's: then .3, .4 ...
      topology.client_extra_ipv4.push_back("198.18.0." + std::to_string(i + 2));
      topology.client_extra_ipv6.push_back("2001:2::" + std::to_string(i + 2));
    }
    failure = Build(&topology);
    if (failure.empty()) result = std::move(topology);
  });
  builder.join();
  if (!failure.empty()) *why = "veth topology: " + failure;
  return result;
}

}  // namespace twbench
