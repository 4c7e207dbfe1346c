// The socket census: one NETLINK_SOCK_DIAG dump per address family, filtered
// in the kernel by state bitmask and by an inet_diag bytecode port filter, and
// counted by the state each reply carries.
#include "twbench/socket_census.h"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace twbench {

const char* ToString(TcpState state) {
  switch (state) {
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynRecv:
      return "SYN_RECV";
    case TcpState::kFinWait1:
      return "FIN_WAIT1";
    case TcpState::kFinWait2:
      return "FIN_WAIT2";
    case TcpState::kTimeWait:
      return "TIME_WAIT";
    case TcpState::kClose:
      return "CLOSE";
    case TcpState::kCloseWait:
      return "CLOSE_WAIT";
    case TcpState::kLastAck:
      return "LAST_ACK";
    case TcpState::kListen:
      return "LISTEN";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kNewSynRecv:
      return "NEW_SYN_RECV";
  }
  return "UNKNOWN";
}

std::uint64_t TcpStateCounts::total() const {
  return std::accumulate(by_state.begin(), by_state.end(), std::uint64_t{0});
}

namespace {

// Bits 1..kTcpStateMax. Newer kernels know more states (TCP_BOUND_INACTIVE,
// 13), which the counts have no slot for, so they are never asked for.
constexpr std::uint32_t kKnownStates =
    ((std::uint32_t{1} << (kTcpStateMax + 1)) - 1) & ~std::uint32_t{1};

// A dump datagram is at most SKB_WITH_OVERHEAD(32768) bytes (netlink_recvmsg
// caps max_recvmsg_len there), so 64 KiB always holds one; MSG_TRUNC is still
// checked in case a kernel raises the cap.
constexpr std::size_t kRecvBufferSize = 64 * 1024;

// A dump that makes no progress for this long is a broken kernel or a bug.
constexpr time_t kRecvTimeoutSeconds = 10;

[[noreturn]] void ThrowErrno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

const char* FamilyName(std::uint8_t family) {
  return family == AF_INET ? "AF_INET" : "AF_INET6";
}

// The inet_diag bytecode of the port filter: one two-op instruction per port.
struct PortFilter {
  std::array<inet_diag_bc_op, 4> ops{};
  std::size_t count = 0;  // ops used
  std::size_t bytes() const { return count * sizeof(inet_diag_bc_op); }
};

// The kernel (inet_diag_bc_run) accepts a socket when the program counter
// lands exactly on the end of the bytecode and rejects it when it jumps past:
// a match steps `yes` bytes to the next instruction, a miss jumps `no` bytes
// to end + 4 (the farthest jump inet_diag_bc_audit allows). A port comparison
// carries its port in the `no` field of a second op.
void AppendPortMatch(PortFilter& filter, std::uint8_t code,
                     std::uint16_t port) {
  filter.ops[filter.count++] = {code, 0, 0};
  filter.ops[filter.count++] = {0, 0, port};
}

PortFilter BuildPortFilter(const CensusQuery& query) {
  PortFilter filter;
  if (query.local_port) {
    AppendPortMatch(filter, INET_DIAG_BC_S_EQ, *query.local_port);
  }
  if (query.remote_port) {
    AppendPortMatch(filter, INET_DIAG_BC_D_EQ, *query.remote_port);
  }
  constexpr std::size_t kInstructionBytes = 2 * sizeof(inet_diag_bc_op);
  const std::size_t total = filter.bytes();
  for (std::size_t i = 0; i < filter.count; i += 2) {
    const std::size_t remaining = total - i * sizeof(inet_diag_bc_op);
    filter.ops[i].yes = static_cast<unsigned char>(kInstructionBytes);
    filter.ops[i].no = static_cast<unsigned short>(remaining + 4);
  }
  return filter;
}

// What the callbacks of one received datagram report back.
struct DumpState {
  TcpStateCounts* counts = nullptr;
  const CensusQuery* query = nullptr;
  std::size_t consumed = 0;  // aligned bytes of messages handled
  int error = 0;             // errno carried by NLMSG_ERROR / NLMSG_DONE
  const char* error_what = nullptr;
  bool done = false;
};

DumpState& StateOf(void* data) { return *static_cast<DumpState*>(data); }

int Fail(DumpState& state, int err, const char* what) {
  state.error = err;
  state.error_what = what;
  return MNL_CB_ERROR;
}

// Whether a socket's address (inet_diag_sockid's idiag_src or idiag_dst,
// network order, IPv4 in the first word) is `want`; no `want`: any.
bool AddressIs(std::uint8_t family, const __be32 (&address)[4],
               const std::optional<sockaddr_storage>& want) {
  if (!want) return true;
  if (want->ss_family != family) return false;
  if (family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(*want);
    return std::memcmp(&in.sin_addr, address, 4) == 0;
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(*want);
  return std::memcmp(&in6.sin6_addr, address, 16) == 0;
}

int OnSocket(const nlmsghdr* nlh, void* data) {
  DumpState& state = StateOf(data);
  state.consumed += MNL_ALIGN(nlh->nlmsg_len);
  if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
      mnl_nlmsg_get_payload_len(nlh) < sizeof(inet_diag_msg)) {
    return Fail(state, EBADMSG,
                "unexpected message in SOCK_DIAG_BY_FAMILY dump");
  }
  const auto* msg =
      static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(nlh));
  // Request sockets (NEW_SYN_RECV in the hash) are reported as SYN_RECV and
  // TIME_WAIT sockets by their substate, so a state is any of 1..max.
  const unsigned state_index = msg->idiag_state;
  if (state_index == 0 || state_index > kTcpStateMax) {
    return Fail(state, EBADMSG,
                "TCP state out of range in SOCK_DIAG_BY_FAMILY dump");
  }
  if (!AddressIs(msg->idiag_family, msg->id.idiag_src,
                 state.query->local_address) ||
      !AddressIs(msg->idiag_family, msg->id.idiag_dst,
                 state.query->remote_address)) {
    return MNL_CB_OK;
  }
  ++state.counts->by_state[state_index];
  return MNL_CB_OK;
}

int OnNoop(const nlmsghdr* nlh, void* data) {
  StateOf(data).consumed += MNL_ALIGN(nlh->nlmsg_len);
  return MNL_CB_OK;
}

int OnError(const nlmsghdr* nlh, void* data) {
  DumpState& state = StateOf(data);
  state.consumed += MNL_ALIGN(nlh->nlmsg_len);
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) {
    return Fail(state, EBADMSG,
                "short NLMSG_ERROR in SOCK_DIAG_BY_FAMILY dump");
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  // No ACK was asked for, so even error 0 is not a valid end of a dump.
  return Fail(state, err->error < 0 ? -err->error : EPROTO,
              "NLMSG_ERROR in SOCK_DIAG_BY_FAMILY dump");
}

int OnDone(const nlmsghdr* nlh, void* data) {
  DumpState& state = StateOf(data);
  state.consumed += MNL_ALIGN(nlh->nlmsg_len);
  // A dump that fails midway ends with NLMSG_DONE carrying the negative errno.
  if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
    int status = 0;
    std::memcpy(&status, mnl_nlmsg_get_payload(nlh), sizeof(status));
    if (status < 0) {
      return Fail(state, -status,
                  "NLMSG_DONE with error in SOCK_DIAG_BY_FAMILY dump");
    }
  }
  state.done = true;
  return MNL_CB_STOP;
}

int OnOverrun(const nlmsghdr* nlh, void* data) {
  DumpState& state = StateOf(data);
  state.consumed += MNL_ALIGN(nlh->nlmsg_len);
  return Fail(state, EOVERFLOW, "NLMSG_OVERRUN in SOCK_DIAG_BY_FAMILY dump");
}

// Every control type gets a handler; one without (a type the kernel does not
// send) is skipped by mnl_cb_run2 and then fails the byte count below.
std::array<mnl_cb_t, NLMSG_MIN_TYPE> ControlCallbacks() {
  std::array<mnl_cb_t, NLMSG_MIN_TYPE> callbacks{};
  callbacks[NLMSG_NOOP] = OnNoop;
  callbacks[NLMSG_ERROR] = OnError;
  callbacks[NLMSG_DONE] = OnDone;
  callbacks[NLMSG_OVERRUN] = OnOverrun;
  return callbacks;
}

void SendDumpRequest(mnl_socket* nl, std::uint8_t family, std::uint32_t states,
                     const PortFilter& filter, std::uint32_t seq) {
  alignas(nlmsghdr) std::array<char, 256> buf{};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  auto* req = static_cast<inet_diag_req_v2*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_ext = 0;  // the fixed inet_diag_msg carries the state: no extras
  req->idiag_states = states;
  if (filter.count > 0) {
    mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, filter.bytes(),
                 filter.ops.data());
  }
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    ThrowErrno(errno, std::string("mnl_socket_sendto(SOCK_DIAG_BY_FAMILY, ") +
                          FamilyName(family) + ")");
  }
}

void ReceiveDump(mnl_socket* nl, std::uint8_t family, std::uint32_t seq,
                 std::vector<char>& buf, const CensusQuery& query,
                 TcpStateCounts& counts) {
  auto control = ControlCallbacks();  // mnl_cb_run2 takes it non-const
  const unsigned portid = mnl_socket_get_portid(nl);
  const std::string where = std::string(" (") + FamilyName(family) + ")";
  DumpState state;
  state.counts = &counts;
  state.query = &query;
  while (!state.done) {
    // mnl_socket_recvfrom fails with ENOSPC when the datagram was truncated.
    const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) ThrowErrno(errno, "mnl_socket_recvfrom" + where);
    if (n == 0)
      ThrowErrno(EPROTO, "mnl_socket_recvfrom: end of stream" + where);
    state.consumed = 0;
    const int ret =
        mnl_cb_run2(buf.data(), static_cast<std::size_t>(n), seq, portid,
                    OnSocket, &state, control.data(), control.size());
    if (ret == MNL_CB_ERROR) {
      if (state.error != 0) ThrowErrno(state.error, state.error_what + where);
      // libmnl's own checks: ESRCH (portid), EPROTO (seq), EINTR (dump intr).
      ThrowErrno(errno, "mnl_cb_run(SOCK_DIAG_BY_FAMILY)" + where);
    }
    // Every byte must belong to a whole message, and NLMSG_DONE must be last.
    if (state.consumed != MNL_ALIGN(static_cast<std::size_t>(n))) {
      ThrowErrno(EBADMSG, "short or trailing netlink message in dump" + where);
    }
  }
}

void SetReceiveTimeout(mnl_socket* nl) {
  const timeval timeout{kRecvTimeoutSeconds, 0};
  if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout)) < 0) {
    ThrowErrno(errno, "setsockopt(SO_RCVTIMEO) on NETLINK_SOCK_DIAG socket");
  }
}

}  // namespace

TcpStateCounts CountTcpSockets(const CensusQuery& query) {
  TcpStateCounts counts;
  CensusSocket().CountInto(query, &counts);
  return counts;
}

SettledCounts CountTcpSocketsSettled(const CensusQuery& query,
                                     double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(timeout_s));
  CensusQuery all = query;
  all.states = query.states | kClosingStates;
  SettledCounts out;
  CensusSocket census;  // one socket for every dump of the wait
  TcpStateCounts previous;
  census.CountInto(all, &previous);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    TcpStateCounts now;
    census.CountInto(all, &now);
    std::uint64_t closing = 0;
    for (int s = 1; s <= kTcpStateMax; ++s) {
      if (kClosingStates & (1u << s)) closing += now.by_state[s];
    }
    const bool done = closing == 0 && now.by_state == previous.by_state;
    if (done || Clock::now() >= deadline) {
      out.settled = done;
      for (int s = 1; s <= kTcpStateMax; ++s) {
        if (query.states & (1u << s)) out.counts.by_state[s] = now.by_state[s];
        if (kClosingStates & (1u << s))
          out.closing.by_state[s] = now.by_state[s];
      }
      break;
    }
    previous = now;
  }
  out.waited_s = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

CensusSocket::CensusSocket()
    : nl_(mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC)),
      buf_(kRecvBufferSize) {
  if (nl_ == nullptr) ThrowErrno(errno, "mnl_socket_open(NETLINK_SOCK_DIAG)");
  try {
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
      ThrowErrno(errno, "mnl_socket_bind(NETLINK_SOCK_DIAG)");
    }
    SetReceiveTimeout(nl_);
  } catch (...) {
    mnl_socket_close(nl_);
    throw;
  }
}

CensusSocket::~CensusSocket() { mnl_socket_close(nl_); }

void CensusSocket::CountInto(const CensusQuery& query, TcpStateCounts* counts) {
  const PortFilter filter = BuildPortFilter(query);
  const std::uint32_t states = query.states & kKnownStates;
  for (const std::uint8_t family :
       {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    if ((family == AF_INET && !query.ipv4) ||
        (family == AF_INET6 && !query.ipv6)) {
      continue;
    }
    // A fresh sequence number per dump: a reply left from an earlier dump
    // could never pass for one of this dump.
    ++seq_;
    SendDumpRequest(nl_, family, states, filter, seq_);
    ReceiveDump(nl_, family, seq_, buf_, query, *counts);
  }
}

}  // namespace twbench
