// Test reference: TCP sockets counted from /proc/net/tcp{,6} of the calling
// thread's namespace (/proc/thread-self/net; /proc/net is the main
// thread's), parsed on their own, independent of the netlink census.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "twbench/socket_census.h"

namespace twbench::testing {

// A line: "sl: LOCALADDR:PORT REMADDR:PORT ST ...", ports and state in hex.
inline void CountProcFile(const char* path, const CensusQuery& query,
                          TcpStateCounts& counts) {
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  std::string line;
  std::getline(file, line);  // the header
  while (std::getline(file, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    ASSERT_TRUE(fields >> slot >> local >> remote >> state) << line;
    const auto port_of = [](const std::string& address) {
      return static_cast<std::uint16_t>(
          std::stoul(address.substr(address.rfind(':') + 1), nullptr, 16));
    };
    const unsigned st = std::stoul(state, nullptr, 16);
    if (query.local_port && port_of(local) != *query.local_port) continue;
    if (query.remote_port && port_of(remote) != *query.remote_port) continue;
    if (st > kTcpStateMax || (query.states & (1u << st)) == 0) continue;
    ++counts.by_state[st];
  }
}

inline TcpStateCounts CountFromProc(const CensusQuery& query) {
  TcpStateCounts counts;
  if (query.ipv4) CountProcFile("/proc/thread-self/net/tcp", query, counts);
  if (query.ipv6) CountProcFile("/proc/thread-self/net/tcp6", query, counts);
  return counts;
}

}  // namespace twbench::testing
