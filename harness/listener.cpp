#include "twbench/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <uv.h>

#include <cerrno>
#include <cstring>

#include "twbench/error_name.h"

namespace twbench {

sockaddr_storage LoopbackAddress(Family family, std::uint16_t port) {
  sockaddr_storage ss{};
  if (family == Family::kIPv4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = in6addr_loopback;
  }
  return ss;
}

std::optional<sockaddr_storage> NumericAddress(Family family,
                                               const std::string& text,
                                               std::uint16_t port) {
  sockaddr_storage ss = LoopbackAddress(family, port);
  void* dst =
      family == Family::kIPv4
          ? static_cast<void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
          : static_cast<void*>(
                &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr);
  if (inet_pton(family == Family::kIPv4 ? AF_INET : AF_INET6, text.c_str(),
                dst) != 1) {
    return std::nullopt;
  }
  return ss;
}

void SetPort(sockaddr_storage& address, std::uint16_t port) {
  // sin_port and sin6_port sit at the same offset.
  reinterpret_cast<sockaddr_in*>(&address)->sin_port = htons(port);
}

socklen_t AddressLength(Family family) {
  return family == Family::kIPv4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

int GetIntSockopt(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0) return -1;
  return value;
}

// dup() and then FD_CLOEXEC, not F_DUPFD_CLOEXEC: ThreadSanitizer intercepts
// dup() but not fcntl(), so that its one false report on a reused number is
// here (tests/tsan.supp), not in whatever uses the fd. Nothing in the
// process execs between the two calls.
UniqueFd DupListener(int fd) {
  UniqueFd copy(dup(fd));
  if (copy && fcntl(copy.get(), F_SETFD, FD_CLOEXEC) != 0) {
    const int error = errno;
    copy.reset();
    errno = error;
  }
  return copy;
}

namespace {
ListenerResult Fail(Step step) {
  ListenerResult r;
  r.failed_step = step;
  r.error = -errno;
  return r;
}

std::uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}
}  // namespace

ListenerResult MakeListener(const ListenerOptions& options) {
  const int domain = options.family == Family::kIPv4 ? AF_INET : AF_INET6;
  UniqueFd fd(socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Fail(Step::kBind);
  // Set explicitly both ways: "off" must mean off on the live socket, and a
  // test reads it back with getsockopt.
  const int reuseaddr = options.reuseaddr ? 1 : 0;
  const int reuseport = options.reuseport ? 1 : 0;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &reuseaddr,
                 sizeof(reuseaddr)) != 0 ||
      setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &reuseport,
                 sizeof(reuseport)) != 0) {
    return Fail(Step::kBind);
  }
  if (domain == AF_INET6) {
    // ::1 only; no dual-stack surprises when an IPv4 run shares the port.
    const int v6only = 1;
    if (setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
                   sizeof(v6only)) != 0) {
      return Fail(Step::kBind);
    }
  }
  sockaddr_storage addr = LoopbackAddress(options.family, options.port);
  if (options.address) {
    addr = *options.address;
    SetPort(addr, options.port);
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
           AddressLength(options.family)) != 0) {
    return Fail(Step::kBind);
  }
  if (options.listen && listen(fd.get(), options.backlog) != 0) {
    return Fail(Step::kListen);
  }
  ListenerResult r;
  r.port = BoundPort(fd.get());
  r.fd = std::move(fd);
  return r;
}

void RecordListenerFailure(const ListenerResult& result, ChurnStats* stats) {
  stats->server.errors.Add(result.failed_step, result.error);
  stats->fatal = std::string(ToString(result.failed_step)) +
                 " listener: " + UvErrorName(result.error);
}

}  // namespace twbench
