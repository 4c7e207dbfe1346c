// How many TIME_WAIT sockets of a run in a fresh namespace an RST ended: on
// two CPUs a late ACK can reach a TIME_WAIT after its peer is gone, the
// peer's RST ends it (tcp_rfc1337=0), and the census holds fewer than one
// per connection; under load 10% and more (docs/time-wait-ledger.md). A test
// that bounds the TIME_WAIT a run leaves counts those as well, from the
// namespace's own counters: RSTs sent less the aborts' own.
#pragma once

#include <cstdint>
#include <string>

#include "twbench/churn_stats.h"
#include "twbench/kernel_counters.h"

namespace twbench::test {

struct RstMark {
  TcpCounters tcp = ReadTcp();
  TcpExtAborts aborts = ReadTcpExtAborts();
  TcpExtCounters tcpext = ReadTcpExt();
};

// The RSTs sent since mark that were no abort's (Tcp OutRsts less TcpExt
// TCPAbortOn*): each may have ended one TIME_WAIT. Read in the namespace of
// the mark.
inline std::uint64_t TimeWaitResetsSince(const RstMark& mark) {
  const std::uint64_t rsts = Delta(ReadTcp(), mark.tcp).out_rsts;
  const std::uint64_t aborts = Delta(ReadTcpExtAborts(), mark.aborts).total();
  return rsts > aborts ? rsts - aborts : 0;
}

// Every way the ledger knows (docs/time-wait-ledger.md) a run's TIME_WAIT
// can end before the census besides its 60 s: an RST (above), connect()
// recycling it (TWRecycled), TWKilled, and a new SYN on the same 4-tuple
// taking a server's over (`tuple_reuses`, ChurnStats::client). A run holds
// at least one per connection less these. Read in the namespace of the mark.
inline std::uint64_t TimeWaitEndedSince(const RstMark& mark,
                                        std::uint64_t tuple_reuses) {
  const TcpExtCounters d = Delta(ReadTcpExt(), mark.tcpext);
  return TimeWaitResetsSince(mark) + d.tw_recycled + d.tw_killed + tuple_reuses;
}

// The terms above for a failure's message.
inline std::string LedgerTermsSince(const RstMark& mark, const ChurnStats& st) {
  const TcpExtCounters d = Delta(ReadTcpExt(), mark.tcpext);
  return "entered " + std::to_string(d.tw) + ", resets " +
         std::to_string(TimeWaitResetsSince(mark)) + ", recycled " +
         std::to_string(d.tw_recycled) + ", killed " +
         std::to_string(d.tw_killed) + ", tuple reuses " +
         std::to_string(st.client.tuple_reuses) + ", overflow " +
         std::to_string(d.tw_overflow);
}

}  // namespace twbench::test
