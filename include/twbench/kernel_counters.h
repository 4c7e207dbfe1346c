// The kernel's own TCP counters that explain a run's TIME_WAIT counts, read
// from /proc/thread-self/net (the calling thread's namespace; /proc/net would
// be the main thread's). Inside a namespace of the run's own they are the
// run's exactly.
#pragma once

#include <cstdint>
#include <string>

namespace twbench {

// Counters of the TcpExt lines of /proc/<tid>/net/netstat (cumulative since
// the namespace was made). Measured on Linux 6.18: TW counts TIME_WAIT sockets
// as they are made, and stays put when they expire 60 s later.
struct TcpExtCounters {
  std::uint64_t tw = 0;                // TW: sockets put into TIME_WAIT
  std::uint64_t tw_recycled = 0;       // TWRecycled: reused by connect()
                                       // (tcp_tw_reuse)
  std::uint64_t tw_killed = 0;         // TWKilled (0 even after expiry here)
  std::uint64_t tw_overflow = 0;       // TCPTimeWaitOverflow: closed without
                                       // TIME_WAIT (tcp_max_tw_buckets full)
  std::uint64_t listen_overflows = 0;  // ListenOverflows: accept queue full
  std::uint64_t listen_drops = 0;      // ListenDrops
};

// Reads /proc/thread-self/net/netstat. Throws std::system_error when it
// cannot be read, std::runtime_error when a counter is missing or malformed.
TcpExtCounters ReadTcpExt();
// Parses netstat text: "TcpExt:" header line, then "TcpExt:" value line;
// fields are found by name.
TcpExtCounters ParseTcpExt(const std::string& netstat);
// after - before, field by field. Both must be of the same namespace.
TcpExtCounters Delta(const TcpExtCounters& after, const TcpExtCounters& before);

// The TCP line of /proc/<tid>/net/sockstat: sockets right now. inuse and tw
// are the namespace's; orphan and alloc are the kernel's global counters, so
// other namespaces' sockets show there too (measured: alloc 130 inside a new
// namespace holding 2 sockets).
struct SockstatTcp {
  std::uint64_t inuse = 0;   // hashed TCP sockets, TIME_WAIT not included
  std::uint64_t orphan = 0;  // closed by their owner, not yet gone (global)
  std::uint64_t tw = 0;      // TIME_WAIT sockets of the namespace
  std::uint64_t alloc = 0;   // allocated TCP sockets (global)
};

// Reads /proc/thread-self/net/sockstat; throws like ReadTcpExt.
SockstatTcp ReadSockstat();
// Parses sockstat text ("TCP: inuse 1 orphan 0 tw 10 alloc 2 mem 0").
SockstatTcp ParseSockstat(const std::string& sockstat);

}  // namespace twbench
