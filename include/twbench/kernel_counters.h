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
// as they are made, and stays put when they expire 60 s later. The kernel
// counts a TIME_WAIT once, when its timer is first armed: TW for a timeout
// over 4 s, TWKilled for a shorter one (inet_twsk_schedule); neither counts
// a TIME_WAIT that an RST or a new SYN ends (docs/time-wait-ledger.md).
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

// The TcpExt counters of sockets that sent an RST as they were aborted
// (tcp_send_active_reset): the RSTs of /proc/net/snmp's OutRsts that no
// TIME_WAIT can receive. Apart so that TcpExtCounters keeps its shape.
struct TcpExtAborts {
  std::uint64_t on_data = 0;    // TCPAbortOnData: SO_LINGER {1,0} close, or
                                // data after close
  std::uint64_t on_close = 0;   // TCPAbortOnClose: closed with unread data
  std::uint64_t on_memory = 0;  // TCPAbortOnMemory: orphans over the limit
  std::uint64_t on_linger = 0;  // TCPAbortOnLinger: FIN_WAIT2 with
                                // TCP_LINGER2 < 0
  // The RSTs these counters stand for: each of them sends at most one.
  std::uint64_t total() const {
    return on_data + on_close + on_memory + on_linger;
  }
};

// Reads the TcpExt aborts of /proc/thread-self/net/netstat; throws like
// ReadTcpExt.
TcpExtAborts ReadTcpExtAborts();
// Parses them from netstat text, by name like ParseTcpExt.
TcpExtAborts ParseTcpExtAborts(const std::string& netstat);
TcpExtAborts Delta(const TcpExtAborts& after, const TcpExtAborts& before);

// Counters of the Tcp lines of /proc/<tid>/net/snmp (the TCP MIB of RFC
// 4022; cumulative since the namespace was made). There is no InRsts: RSTs
// received are counted only as EstabResets (in ESTABLISHED or CLOSE_WAIT)
// and AttemptFails (in SYN_SENT or SYN_RECV).
struct TcpCounters {
  std::uint64_t active_opens = 0;   // ActiveOpens: SYNs sent by connect()
  std::uint64_t passive_opens = 0;  // PassiveOpens: SYNs a listener answered
  std::uint64_t attempt_fails = 0;  // AttemptFails: SYN_SENT/SYN_RECV to
                                    // CLOSED (refused, reset), or SYN_RECV
                                    // back to LISTEN
  std::uint64_t estab_resets = 0;   // EstabResets: ESTABLISHED or CLOSE_WAIT
                                    // to CLOSED (RST received or sent)
  std::uint64_t in_segs = 0;        // InSegs: segments received
  std::uint64_t out_segs = 0;       // OutSegs: segments sent (not retransmits)
  std::uint64_t retrans_segs = 0;   // RetransSegs: segments retransmitted
  std::uint64_t in_errs = 0;        // InErrs: segments received in error
  std::uint64_t out_rsts = 0;       // OutRsts: segments sent with RST
};

// Reads /proc/thread-self/net/snmp; throws like ReadTcpExt.
TcpCounters ReadTcp();
// Parses snmp text: "Tcp:" header line, then "Tcp:" value line; fields are
// found by name (MaxConn, which is -1, is not read).
TcpCounters ParseTcp(const std::string& snmp);
TcpCounters Delta(const TcpCounters& after, const TcpCounters& before);

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
