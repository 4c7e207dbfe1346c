// The TIME_WAIT books of one run: every socket the kernel put into TIME_WAIT
// (TcpExt TW) is either still held at the end or went one of a few known
// ways, each measured on its own. What no term explains is left as
// `unexplained`, so a reader of `time_wait` can tell what happened.
// docs/time-wait-ledger.md has the evidence behind each term.
#pragma once

#include <cstdint>

#include "twbench/scenario.h"

namespace twbench {

// What a run measured, all in the run's own network namespace(s) (summed
// over both with topology=veth), as deltas over the run.
struct TimeWaitLedgerInputs {
  Closer closer = Closer::kClient;  // decides which side holds TIME_WAIT
  std::uint64_t entered = 0;        // TcpExt TW (tcpext_tw)
  std::uint64_t held = 0;           // census TIME_WAIT at the end (time_wait)
  std::uint64_t recycled = 0;       // TcpExt TWRecycled (tcpext_tw_recycled)
  std::uint64_t killed = 0;         // TcpExt TWKilled (tcpext_tw_killed)
  // Connections whose 4-tuple an earlier connection of the run had used: with
  // one server address:port and one client address, connections made minus
  // distinct client ports (ChurnStats connected - client_ports_distinct).
  std::uint64_t tuple_reuses = 0;
  // net.ipv4.tcp_rfc1337 of the namespace holding the TIME_WAIT: when set, a
  // TIME_WAIT ignores RSTs (RFC 1337), so no RST ends one.
  bool rfc1337 = false;
  std::uint64_t out_rsts = 0;    // Tcp OutRsts (snmp)
  std::uint64_t abort_rsts = 0;  // TcpExtAborts::total(): RSTs of aborts
  // TIME_WAIT that reached their 60 s end before the census: 0, exactly, for
  // a run whose census ended less than 60 s after its first connection;
  // otherwise the caller's count (see the docs).
  std::uint64_t expired = 0;
};

// The terms: entered = held + recycled + killed + taken_over + reset +
// expired + unexplained.
struct TimeWaitLedger {
  std::uint64_t entered = 0;
  std::uint64_t held = 0;      // still in TIME_WAIT at the census
  std::uint64_t recycled = 0;  // connect() took it over (tcp_tw_reuse, or a
                               // port bound before connect)
  std::uint64_t killed = 0;    // armed for <= 4 s (TWKilled), so gone
  // A new SYN on the same 4-tuple ended the server's TIME_WAIT (RFC 6191
  // reopening; the kernel counts it nowhere): the tuple reuses when the
  // server closes first. When the client closes first, a reused tuple either
  // recycled its TIME_WAIT (counted by the kernel) or found it gone already.
  std::uint64_t taken_over = 0;
  // RSTs sent by no socket, a listener or a TIME_WAIT socket (OutRsts less
  // the aborts' own): each answers a TIME_WAIT's ACK with the sequence number
  // it expects and so ends it (TIME_WAIT assassination); 0 with rfc1337.
  std::uint64_t reset = 0;
  std::uint64_t expired = 0;
  // entered minus every term above; negative when a socket was explained
  // twice (e.g. reset, then its tuple reused: counted in both terms).
  std::int64_t unexplained = 0;
};

// Balances the books. Pure: no kernel access.
TimeWaitLedger BalanceTimeWait(const TimeWaitLedgerInputs& in);

}  // namespace twbench
