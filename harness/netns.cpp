// Fresh network namespaces: unshare, bring lo up through rtnetlink, check that
// the loopback addresses can be bound, and undo the move when any step fails.
#include "twbench/netns.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace twbench {
namespace {

constexpr char kThreadNetns[] = "/proc/thread-self/ns/net";
constexpr char kLoDisableIpv6[] = "/proc/sys/net/ipv6/conf/lo/disable_ipv6";

std::string ErrnoText(const std::string& call, int err) {
  return call + ": " + std::strerror(err);
}

// Owns a libmnl socket so that every path out closes it.
class MnlSocket {
 public:
  explicit MnlSocket(int bus) : nl_(mnl_socket_open2(bus, SOCK_CLOEXEC)) {}
  MnlSocket(const MnlSocket&) = delete;
  MnlSocket& operator=(const MnlSocket&) = delete;
  ~MnlSocket() {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }
  mnl_socket* get() const { return nl_; }

 private:
  mnl_socket* nl_;
};

// rtnetlink rather than ioctl(SIOCSIFFLAGS): RTM_NEWLINK with ifi_change =
// IFF_UP changes only that flag (the ioctl is a read-modify-write of all
// flags), the kernel's ACK carries its errno for this very request, and
// libmnl is already linked for the socket census.
std::string BringLoopbackUp() {
  const unsigned index = if_nametoindex("lo");
  if (index == 0) return ErrnoText("if_nametoindex(\"lo\")", errno);
  MnlSocket nl(NETLINK_ROUTE);
  if (nl.get() == nullptr) {
    return ErrnoText("mnl_socket_open(NETLINK_ROUTE)", errno);
  }
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return ErrnoText("mnl_socket_bind(NETLINK_ROUTE)", errno);
  }
  // The ACK comes back at once; the timeout only keeps a broken kernel from
  // hanging the run.
  const timeval timeout{5, 0};
  if (setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout)) < 0) {
    return ErrnoText("setsockopt(SO_RCVTIMEO) on NETLINK_ROUTE socket", errno);
  }
  // The ACK echoes the request: a few dozen bytes.
  alignas(nlmsghdr) std::array<char, 8192> buf{};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  const std::uint32_t seq = 1;
  nlh->nlmsg_seq = seq;
  auto* ifm = static_cast<ifinfomsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = static_cast<int>(index);
  ifm->ifi_flags = IFF_UP;
  ifm->ifi_change = IFF_UP;
  if (mnl_socket_sendto(nl.get(), nlh, nlh->nlmsg_len) < 0) {
    return ErrnoText("mnl_socket_sendto(RTM_NEWLINK lo up)", errno);
  }
  const ssize_t n = mnl_socket_recvfrom(nl.get(), buf.data(), buf.size());
  if (n < 0) return ErrnoText("mnl_socket_recvfrom(RTM_NEWLINK ack)", errno);
  // With no data callback, the ACK (NLMSG_ERROR, error 0) stops the run and
  // an error sets errno from the message.
  if (mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq,
                 mnl_socket_get_portid(nl.get()), nullptr,
                 nullptr) == MNL_CB_ERROR) {
    return ErrnoText("RTM_NEWLINK lo up", errno);
  }
  return "";
}

// A new namespace may inherit disable_ipv6=1 (net.core.devconf_inherit_init_
// net); the namespace is ours, so switch IPv6 on for lo. No such file: the
// kernel has no IPv6 at all.
std::string EnableIpv6OnLoopback(bool* present) {
  const UniqueFd fd(open(kLoDisableIpv6, O_RDWR | O_CLOEXEC));
  *present = fd.valid() || errno != ENOENT;
  if (!fd) {
    return *present
               ? ErrnoText(std::string("open(") + kLoDisableIpv6 + ")", errno)
               : "";
  }
  std::array<char, 16> value{};
  if (read(fd.get(), value.data(), value.size() - 1) < 0) {
    return ErrnoText(std::string("read(") + kLoDisableIpv6 + ")", errno);
  }
  if (value[0] == '0') return "";
  if (pwrite(fd.get(), "0\n", 2, 0) != 2) {
    return ErrnoText(std::string("write(") + kLoDisableIpv6 + ", 0)", errno);
  }
  return "";
}

// Binding port 0 on the loopback address proves the address is there.
// Loopback addresses skip duplicate address detection, so ::1 is usable as
// soon as lo is up; a few bounded retries guard against a slower kernel.
std::string CheckBindable(int family) {
  sockaddr_storage storage{};
  socklen_t len = 0;
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&storage, &sin, sizeof(sin));
    len = sizeof(sin);
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    std::memcpy(&storage, &sin6, sizeof(sin6));
    len = sizeof(sin6);
  }
  const char* what = family == AF_INET ? "bind(127.0.0.1:0)" : "bind([::1]:0)";
  constexpr int kAttempts = 100;
  int err = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoText("socket", errno);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) == 0) {
      return "";
    }
    err = errno;
    if (err != EADDRNOTAVAIL) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ErrnoText(std::string(what) + " after bringing lo up", err);
}

// Everything after unshare: lo up, IPv6 on, both addresses bindable.
std::string SetUpLoopback(bool* ipv6) {
  bool ipv6_present = false;
  if (std::string why = EnableIpv6OnLoopback(&ipv6_present); !why.empty()) {
    return why;
  }
  if (std::string why = BringLoopbackUp(); !why.empty()) return why;
  if (std::string why = CheckBindable(AF_INET); !why.empty()) return why;
  if (ipv6_present) {
    if (std::string why = CheckBindable(AF_INET6); !why.empty()) return why;
  }
  *ipv6 = ipv6_present;
  return "";
}

struct Probe {
  bool can = false;
  std::string why;
};

const Probe& CachedProbe() {
  // A function-local static: the probe runs once, even with racing callers.
  static const Probe probe = [] {
    Probe result;
    std::thread prober([&result] {
      const NetNamespace ns = NetNamespace::CreateAndEnter(&result.why);
      result.can = ns.valid();
    });
    prober.join();
    return result;
  }();
  return probe;
}

}  // namespace

NetNamespace NetNamespace::Open(const std::string& path, std::string* why) {
  const std::string full =
      path.find('/') == std::string::npos ? "/run/netns/" + path : path;
  UniqueFd fd(open(full.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    *why = ErrnoText("open(" + full + ")", errno);
    return NetNamespace();
  }
  return NetNamespace(std::move(fd));
}

NetNamespace NetNamespace::OfCallingThread(std::string* why) {
  return Open(kThreadNetns, why);
}

NetNamespace NetNamespace::CreateAndEnter(std::string* why) {
  // Kept to step back into when a later step fails, so a failure never
  // leaves the thread in a half-made namespace.
  NetNamespace original = OfCallingThread(why);
  if (!original.valid()) return NetNamespace();
  if (unshare(CLONE_NEWNET) < 0) {
    const int err = errno;
    *why = ErrnoText("unshare(CLONE_NEWNET)", err);
    if (err == EPERM) *why += " - run as root or with CAP_SYS_ADMIN";
    return NetNamespace();
  }
  bool ipv6 = false;
  std::string failure = SetUpLoopback(&ipv6);
  NetNamespace fresh;
  if (failure.empty()) {
    fresh = OfCallingThread(&failure);
    fresh.ipv6_ = ipv6;
  }
  if (!failure.empty()) {
    *why = failure;
    std::string back;
    if (!Enter(original, &back)) *why += "; and back: " + back;
    return NetNamespace();
  }
  return fresh;
}

std::string NetNamespace::id() const {
  struct stat st {};
  if (!valid() || fstat(fd_.get(), &st) < 0) return "";
  return "net:[" + std::to_string(st.st_ino) + "]";
}

bool Enter(const NetNamespace& ns, std::string* why) {
  if (!ns.valid()) {
    *why = "setns(CLONE_NEWNET): no namespace (invalid NetNamespace)";
    return false;
  }
  if (setns(ns.fd(), CLONE_NEWNET) < 0) {
    *why = ErrnoText("setns(CLONE_NEWNET)", errno);
    return false;
  }
  return true;
}

std::optional<std::string> RunInFreshNetns(const std::function<void()>& fn) {
  std::optional<std::string> failure;
  std::exception_ptr thrown;
  std::thread worker([&] {
    std::string why;
    // Destroyed when the thread ends: its fd is closed before join returns.
    const NetNamespace ns = NetNamespace::CreateAndEnter(&why);
    if (!ns.valid()) {
      failure = why;
      return;
    }
    try {
      fn();
    } catch (...) {
      // An exception leaving a std::thread would terminate the process.
      thrown = std::current_exception();
    }
  });
  worker.join();
  if (thrown) std::rethrow_exception(thrown);
  return failure;
}

void RunIn(const NetNamespace& ns, const std::function<void()>& fn) {
  std::exception_ptr thrown;
  std::thread worker([&] {
    try {
      std::string why;
      if (!Enter(ns, &why)) throw std::runtime_error("setns: " + why);
      fn();
    } catch (...) {
      // An exception leaving a std::thread would terminate the process.
      thrown = std::current_exception();
    }
  });
  worker.join();
  if (thrown) std::rethrow_exception(thrown);
}

bool CanCreateNetns() { return CachedProbe().can; }

const std::string& WhyNoNetns() { return CachedProbe().why; }

std::string CurrentNetnsId() {
  std::array<char, 64> buf{};
  const ssize_t n = readlink(kThreadNetns, buf.data(), buf.size());
  if (n < 0 || static_cast<std::size_t>(n) >= buf.size()) return "";
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

}  // namespace twbench
