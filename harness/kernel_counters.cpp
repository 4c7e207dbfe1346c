// TcpExt, Tcp (snmp) and sockstat counters of the calling thread's namespace,
// parsed by name so that a kernel adding or reordering fields changes nothing
// here.
#include "twbench/kernel_counters.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "twbench/unique_fd.h"

namespace twbench {
namespace {

// /proc/thread-self, not /proc/net: the latter is the main thread's namespace.
constexpr char kNetstat[] = "/proc/thread-self/net/netstat";
constexpr char kSockstat[] = "/proc/thread-self/net/sockstat";
constexpr char kSnmp[] = "/proc/thread-self/net/snmp";

// Read to the end: netstat is a few KiB and may take more than one read().
std::string ReadWhole(const char* path) {
  const UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw std::system_error(errno, std::generic_category(),
                            std::string("open(") + path + ")");
  }
  std::string text;
  std::array<char, 4096> buf{};
  // A /proc file this size is a few reads; the cap guards against a file
  // that never ends.
  constexpr std::size_t kMaxBytes = 1 << 20;
  while (text.size() < kMaxBytes) {
    const ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      throw std::system_error(errno, std::generic_category(),
                              std::string("read(") + path + ")");
    }
    if (n == 0) return text;
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  throw std::runtime_error(std::string(path) + ": larger than 1 MiB");
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::uint64_t ToCounter(const std::string& text, const std::string& name) {
  std::size_t used = 0;
  std::uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || text[0] == '-') {
    throw std::runtime_error("counter " + name + ": not a number: \"" + text +
                             "\"");
  }
  return value;
}

using Named = std::map<std::string, std::uint64_t>;
// Values as text, converted when taken: a field nobody reads may be anything
// (snmp's MaxConn is -1).
using NamedText = std::map<std::string, std::string>;

std::uint64_t Take(const Named& named, const std::string& name,
                   const std::string& where) {
  const auto it = named.find(name);
  if (it == named.end()) {
    throw std::runtime_error(where + ": no counter " + name);
  }
  return it->second;
}

std::uint64_t Take(const NamedText& named, const std::string& name,
                   const std::string& where) {
  const auto it = named.find(name);
  if (it == named.end()) {
    throw std::runtime_error(where + ": no counter " + name);
  }
  return ToCounter(it->second, name);
}

// The "PREFIX:" lines of netstat or snmp come in pairs: names, then values.
NamedText ParsePairedLines(const std::string& text, const std::string& prefix,
                           const std::string& file) {
  std::istringstream in(text);
  std::vector<std::string> names;
  NamedText named;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> words = Words(line);
    if (words.empty() || words[0] != prefix) continue;
    if (names.empty()) {
      names = std::move(words);
      continue;
    }
    if (words.size() != names.size()) {
      throw std::runtime_error(prefix + " " + std::to_string(names.size() - 1) +
                               " names but " +
                               std::to_string(words.size() - 1) + " values");
    }
    for (std::size_t i = 1; i < names.size(); ++i) named[names[i]] = words[i];
    names.clear();
    found = true;
  }
  if (!found) throw std::runtime_error(file + ": no " + prefix + " lines");
  return named;
}

}  // namespace

TcpExtCounters ParseTcpExt(const std::string& netstat) {
  const NamedText named = ParsePairedLines(netstat, "TcpExt:", "netstat");
  const std::string where = "netstat TcpExt";
  TcpExtCounters counters;
  counters.tw = Take(named, "TW", where);
  counters.tw_recycled = Take(named, "TWRecycled", where);
  counters.tw_killed = Take(named, "TWKilled", where);
  counters.tw_overflow = Take(named, "TCPTimeWaitOverflow", where);
  counters.listen_overflows = Take(named, "ListenOverflows", where);
  counters.listen_drops = Take(named, "ListenDrops", where);
  return counters;
}

TcpExtCounters ReadTcpExt() { return ParseTcpExt(ReadWhole(kNetstat)); }

TcpExtAborts ParseTcpExtAborts(const std::string& netstat) {
  const NamedText named = ParsePairedLines(netstat, "TcpExt:", "netstat");
  const std::string where = "netstat TcpExt";
  TcpExtAborts aborts;
  aborts.on_data = Take(named, "TCPAbortOnData", where);
  aborts.on_close = Take(named, "TCPAbortOnClose", where);
  aborts.on_memory = Take(named, "TCPAbortOnMemory", where);
  aborts.on_linger = Take(named, "TCPAbortOnLinger", where);
  return aborts;
}

TcpExtAborts ReadTcpExtAborts() {
  return ParseTcpExtAborts(ReadWhole(kNetstat));
}

TcpExtAborts Delta(const TcpExtAborts& after, const TcpExtAborts& before) {
  TcpExtAborts delta;
  delta.on_data = after.on_data - before.on_data;
  delta.on_close = after.on_close - before.on_close;
  delta.on_memory = after.on_memory - before.on_memory;
  delta.on_linger = after.on_linger - before.on_linger;
  return delta;
}

TcpCounters ParseTcp(const std::string& snmp) {
  const NamedText named = ParsePairedLines(snmp, "Tcp:", "snmp");
  const std::string where = "snmp Tcp";
  TcpCounters tcp;
  tcp.active_opens = Take(named, "ActiveOpens", where);
  tcp.passive_opens = Take(named, "PassiveOpens", where);
  tcp.attempt_fails = Take(named, "AttemptFails", where);
  tcp.estab_resets = Take(named, "EstabResets", where);
  tcp.in_segs = Take(named, "InSegs", where);
  tcp.out_segs = Take(named, "OutSegs", where);
  tcp.retrans_segs = Take(named, "RetransSegs", where);
  tcp.in_errs = Take(named, "InErrs", where);
  tcp.out_rsts = Take(named, "OutRsts", where);
  return tcp;
}

TcpCounters ReadTcp() { return ParseTcp(ReadWhole(kSnmp)); }

TcpCounters Delta(const TcpCounters& after, const TcpCounters& before) {
  TcpCounters delta;
  delta.active_opens = after.active_opens - before.active_opens;
  delta.passive_opens = after.passive_opens - before.passive_opens;
  delta.attempt_fails = after.attempt_fails - before.attempt_fails;
  delta.estab_resets = after.estab_resets - before.estab_resets;
  delta.in_segs = after.in_segs - before.in_segs;
  delta.out_segs = after.out_segs - before.out_segs;
  delta.retrans_segs = after.retrans_segs - before.retrans_segs;
  delta.in_errs = after.in_errs - before.in_errs;
  delta.out_rsts = after.out_rsts - before.out_rsts;
  return delta;
}

TcpExtCounters Delta(const TcpExtCounters& after,
                     const TcpExtCounters& before) {
  TcpExtCounters delta;
  delta.tw = after.tw - before.tw;
  delta.tw_recycled = after.tw_recycled - before.tw_recycled;
  delta.tw_killed = after.tw_killed - before.tw_killed;
  delta.tw_overflow = after.tw_overflow - before.tw_overflow;
  delta.listen_overflows = after.listen_overflows - before.listen_overflows;
  delta.listen_drops = after.listen_drops - before.listen_drops;
  return delta;
}

SockstatTcp ParseSockstat(const std::string& sockstat) {
  // "TCP: inuse 1 orphan 0 tw 10 alloc 2 mem 0": name/value pairs.
  std::istringstream in(sockstat);
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> words = Words(line);
    if (words.empty() || words[0] != "TCP:") continue;
    if (words.size() % 2 != 1) {
      throw std::runtime_error("sockstat TCP line not name/value pairs: \"" +
                               line + "\"");
    }
    Named named;
    for (std::size_t i = 1; i + 1 < words.size(); i += 2) {
      named[words[i]] = ToCounter(words[i + 1], words[i]);
    }
    const std::string where = "sockstat TCP";
    SockstatTcp tcp;
    tcp.inuse = Take(named, "inuse", where);
    tcp.orphan = Take(named, "orphan", where);
    tcp.tw = Take(named, "tw", where);
    tcp.alloc = Take(named, "alloc", where);
    return tcp;
  }
  throw std::runtime_error("sockstat: no TCP line");
}

SockstatTcp ReadSockstat() { return ParseSockstat(ReadWhole(kSockstat)); }

}  // namespace twbench
