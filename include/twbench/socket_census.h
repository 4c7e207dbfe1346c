// Counts TCP sockets by state through the kernel's socket-diagnostics netlink
// interface (NETLINK_SOCK_DIAG, inet_diag_req_v2): the kernel filters by state
// bitmask and by port (inet_diag bytecode), both address families.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

struct mnl_socket;  // libmnl's, kept out of this header

namespace twbench {

// TCP states as numbered by the kernel (include/net/tcp_states.h).
enum class TcpState : int {
  kEstablished = 1,
  kSynSent = 2,
  kSynRecv = 3,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kTimeWait = 6,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
  kClosing = 11,
  kNewSynRecv = 12,
};
inline constexpr int kTcpStateMax = 12;
const char* ToString(TcpState state);  // "TIME_WAIT", "ESTABLISHED", ...

struct TcpStateCounts {
  std::array<std::uint64_t, kTcpStateMax + 1> by_state{};  // index = TcpState
  std::uint64_t operator[](TcpState s) const {
    return by_state[static_cast<int>(s)];
  }
  std::uint64_t time_wait() const { return (*this)[TcpState::kTimeWait]; }
  std::uint64_t total() const;
};

struct CensusQuery {
  // Bit (1 << TcpState) per state to count; the kernel filters. Default: all.
  std::uint32_t states = ~0u;
  // Both set: a socket must match both. Neither: every TCP socket.
  std::optional<std::uint16_t> local_port;   // sport == port
  std::optional<std::uint16_t> remote_port;  // dport == port
  // Set: the socket's local (remote) address must be this one too (family
  // and address; its port is ignored). Compared here, after the kernel's
  // port filter: another host's sockets to the same port are not the run's.
  std::optional<sockaddr_storage> local_address;
  std::optional<sockaddr_storage> remote_address;
  bool ipv4 = true;
  bool ipv6 = true;
};

inline constexpr std::uint32_t StateBit(TcpState s) {
  return 1u << static_cast<int>(s);
}

// Counts the matching sockets of the caller's network namespace. Throws
// std::system_error naming the failing call when the dump fails (socket,
// send, recv, NLMSG_ERROR, truncated dump).
// Request sockets (NEW_SYN_RECV) count as SYN_RECV, as the kernel reports
// them. A dump is not a snapshot: it resumes by hash position between reads,
// so sockets opened or closed meanwhile may be missed or seen twice.
TcpStateCounts CountTcpSockets(const CensusQuery& query);

}  // namespace twbench

namespace twbench {

// The states a socket passes through between close() and TIME_WAIT/CLOSED.
inline constexpr std::uint32_t kClosingStates =
    StateBit(TcpState::kFinWait1) | StateBit(TcpState::kFinWait2) |
    StateBit(TcpState::kClosing) | StateBit(TcpState::kLastAck) |
    StateBit(TcpState::kCloseWait);

struct SettledCounts {
  TcpStateCounts counts;  // of the query's states, after settling
  bool settled = false;   // false: the timeout struck first
  double waited_s = 0;
  TcpStateCounts closing;  // the closing states at the last dump: why not
};

// Counts once the run is over in the kernel too: right after a run, FINs and
// ACKs still in flight on loopback (softirq work may be deferred to
// ksoftirqd) move sockets between states, and a dump that walks the table
// while a socket turns into TIME_WAIT can miss it. Polls (1 ms apart, at most
// `timeout_s`) until no matching socket is in a closing state and two dumps
// in a row agree.
SettledCounts CountTcpSocketsSettled(const CensusQuery& query,
                                     double timeout_s);

// A census socket kept open for repeated counts, e.g. a sampler's ticks: the
// netlink socket belongs to the network namespace of the thread that made it
// and keeps counting there, wherever that thread goes later; a count
// allocates nothing (the receive buffer is the socket's own). Not
// thread-safe: one owner thread.
class CensusSocket {
 public:
  // Opens and binds the NETLINK_SOCK_DIAG socket in the calling thread's
  // namespace. Throws std::system_error naming the failing call.
  CensusSocket();
  CensusSocket(const CensusSocket&) = delete;
  CensusSocket& operator=(const CensusSocket&) = delete;
  ~CensusSocket();

  // Adds the matching sockets to *counts, as CountTcpSockets counts them.
  // Throws like CountTcpSockets; after a throw the socket may hold the rest
  // of a broken dump and must not be used again.
  void CountInto(const CensusQuery& query, TcpStateCounts* counts);

 private:
  mnl_socket* nl_;
  std::vector<char> buf_;
  std::uint32_t seq_ = 0;
};

}  // namespace twbench
