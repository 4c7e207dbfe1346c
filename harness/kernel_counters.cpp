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

namespace {

// One counter: its name in the /proc file and its field. A struct's fields
// are listed once; parsing and deltas are loops over the list.
template <typename T>
struct Field {
  const char* name;
  std::uint64_t T::*member;
};

constexpr Field<TcpExtCounters> kTcpExtFields[] = {
    {"TW", &TcpExtCounters::tw},
    {"TWRecycled", &TcpExtCounters::tw_recycled},
    {"TWKilled", &TcpExtCounters::tw_killed},
    {"TCPTimeWaitOverflow", &TcpExtCounters::tw_overflow},
    {"ListenOverflows", &TcpExtCounters::listen_overflows},
    {"ListenDrops", &TcpExtCounters::listen_drops}};

constexpr Field<TcpExtAborts> kAbortFields[] = {
    {"TCPAbortOnData", &TcpExtAborts::on_data},
    {"TCPAbortOnClose", &TcpExtAborts::on_close},
    {"TCPAbortOnMemory", &TcpExtAborts::on_memory},
    {"TCPAbortOnLinger", &TcpExtAborts::on_linger}};

constexpr Field<TcpCounters> kTcpFields[] = {
    {"ActiveOpens", &TcpCounters::active_opens},
    {"PassiveOpens", &TcpCounters::passive_opens},
    {"AttemptFails", &TcpCounters::attempt_fails},
    {"EstabResets", &TcpCounters::estab_resets},
    {"InSegs", &TcpCounters::in_segs},
    {"OutSegs", &TcpCounters::out_segs},
    {"RetransSegs", &TcpCounters::retrans_segs},
    {"InErrs", &TcpCounters::in_errs},
    {"OutRsts", &TcpCounters::out_rsts}};

template <typename T, std::size_t N>
T TakeAll(const NamedText& named, const Field<T> (&fields)[N],
          const std::string& where) {
  T out;
  for (const Field<T>& f : fields) out.*f.member = Take(named, f.name, where);
  return out;
}

template <typename T, std::size_t N>
T DeltaAll(const T& after, const T& before, const Field<T> (&fields)[N]) {
  T delta;
  for (const Field<T>& f : fields) {
    delta.*f.member = after.*f.member - before.*f.member;
  }
  return delta;
}

}  // namespace

TcpExtCounters ParseTcpExt(const std::string& netstat) {
  return TakeAll(ParsePairedLines(netstat, "TcpExt:", "netstat"), kTcpExtFields,
                 "netstat TcpExt");
}

TcpExtCounters ReadTcpExt() { return ParseTcpExt(ReadWhole(kNetstat)); }

TcpExtCounters Delta(const TcpExtCounters& after,
                     const TcpExtCounters& before) {
  return DeltaAll(after, before, kTcpExtFields);
}

TcpExtAborts ParseTcpExtAborts(const std::string& netstat) {
  return TakeAll(ParsePairedLines(netstat, "TcpExt:", "netstat"), kAbortFields,
                 "netstat TcpExt");
}

TcpExtAborts ReadTcpExtAborts() {
  return ParseTcpExtAborts(ReadWhole(kNetstat));
}

TcpExtAborts Delta(const TcpExtAborts& after, const TcpExtAborts& before) {
  return DeltaAll(after, before, kAbortFields);
}

TcpCounters ParseTcp(const std::string& snmp) {
  return TakeAll(ParsePairedLines(snmp, "Tcp:", "snmp"), kTcpFields,
                 "snmp Tcp");
}

TcpCounters ReadTcp() { return ParseTcp(ReadWhole(kSnmp)); }

TcpCounters Delta(const TcpCounters& after, const TcpCounters& before) {
  return DeltaAll(after, before, kTcpFields);
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
