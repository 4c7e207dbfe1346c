// Network namespaces for isolated runs: TIME_WAIT lives 60 s and belongs to
// one network namespace, so a fresh namespace per run keeps runs from
// inheriting each other's sockets and the host's tcp_max_tw_buckets.
//
// A namespace belongs to a THREAD: unshare(CLONE_NEWNET) moves only the
// calling thread; threads it starts afterwards inherit the namespace; a socket
// keeps the namespace it was made in; /proc/sys/net and /proc/thread-self/net
// show the opener thread's namespace, while /proc/net and /proc/self/... show
// the main thread's. The kernel frees a namespace (and purges its TIME_WAIT
// sockets) when its last thread, socket and fd are gone.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "twbench/unique_fd.h"

namespace twbench {

// A move-only owner of a network namespace fd (an nsfs fd keeps the
// namespace alive). Default-constructed or moved-from: invalid.
class NetNamespace {
 public:
  NetNamespace() = default;
  explicit NetNamespace(UniqueFd fd, bool ipv6 = true)
      : fd_(std::move(fd)), ipv6_(ipv6) {}

  // Moves the calling thread into a new network namespace with lo up
  // (127.0.0.1, and ::1 unless the kernel has no IPv6) and returns its owner.
  // On failure returns an invalid owner, puts the reason in *why (the call
  // and strerror) and leaves the thread in the namespace it was in.
  static NetNamespace CreateAndEnter(std::string* why);

  // An owner of the namespace at `path` (a bare name: /run/netns/NAME, as
  // `ip netns add` makes them). Invalid with *why on failure.
  static NetNamespace Open(const std::string& path, std::string* why);

  // An owner of the calling thread's current namespace (e.g. to come back to
  // it or to let another thread join it). Invalid with *why on failure.
  static NetNamespace OfCallingThread(std::string* why);

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  // False when the kernel has no IPv6 (no /proc/sys/net/ipv6): IPv4 only.
  bool ipv6() const { return ipv6_; }
  // "net:[4026532177]", the form readlink of /proc/*/ns/net gives; "" if
  // invalid.
  std::string id() const;

 private:
  UniqueFd fd_;
  bool ipv6_ = false;
};

// Moves the calling thread into `ns` (setns). False with *why on failure.
bool Enter(const NetNamespace& ns, std::string* why);

// Runs fn on a new thread that first creates and enters a fresh namespace;
// threads fn starts inherit it. Returns the reason when the namespace could
// not be made (fn not run), nullopt when fn ran. An exception fn throws is
// rethrown here. The namespace dies with the thread unless fn let a socket,
// fd or thread of it outlive fn.
std::optional<std::string> RunInFreshNetns(const std::function<void()>& fn);

// Runs fn on a new thread that first enters `ns` (namespaces are per thread,
// and a socket keeps the namespace of the thread that made it). A failed
// setns throws std::runtime_error; an exception fn throws is rethrown here.
void RunIn(const NetNamespace& ns, const std::function<void()>& fn);

// Whether this process may create network namespaces: probed once in a
// throwaway thread (so no thread of the caller changes namespace), then
// cached.
bool CanCreateNetns();
// The probe's reason when CanCreateNetns() is false; "" when it is true.
const std::string& WhyNoNetns();

// readlink of /proc/thread-self/ns/net: the calling thread's namespace, e.g.
// "net:[4026531840]". "" if it cannot be read.
std::string CurrentNetnsId();

}  // namespace twbench
