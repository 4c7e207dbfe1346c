// Listener sockets made by the harness itself (socket -> setsockopt -> bind ->
// listen), because uv_tcp_bind turns SO_REUSEADDR on for every socket.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "twbench/churn_stats.h"
#include "twbench/scenario.h"
#include "twbench/unique_fd.h"

namespace twbench {

struct ListenerOptions {
  Family family = Family::kIPv4;
  std::uint16_t port = 0;  // 0: the kernel picks
  bool reuseaddr = false;
  bool reuseport = false;
  int backlog = 4096;
  bool listen = true;  // false: stop after bind
  // Address to bind (its port is replaced by `port`); default: loopback.
  std::optional<sockaddr_storage> address;
};

struct ListenerResult {
  UniqueFd fd;                     // valid on success
  Step failed_step = Step::kBind;  // kBind (socket/setsockopt/bind) or kListen
  int error = 0;           // libuv error code (negative errno); 0 on success
  std::uint16_t port = 0;  // the port bound (read back with getsockname)
};

// The loopback address of the family (127.0.0.1 or ::1) with `port`.
sockaddr_storage LoopbackAddress(Family family, std::uint16_t port);
socklen_t AddressLength(Family family);
// A numeric address ("198.18.0.2", "2001:2::2") of the family with `port`;
// nullopt when it does not parse.
std::optional<sockaddr_storage> NumericAddress(Family family,
                                               const std::string& text,
                                               std::uint16_t port);
void SetPort(sockaddr_storage& address, std::uint16_t port);

// Makes a non-blocking, close-on-exec listening socket. Never throws; the
// errno of the failing call is in `error`.
ListenerResult MakeListener(const ListenerOptions& options);

// A listener that could not be made ends its run before it starts: counts
// the failure by step and errno name in stats->errors and sets stats->fatal
// ("bind listener: EADDRINUSE").
void RecordListenerFailure(const ListenerResult& result, ChurnStats* stats);

// Another fd on the same listening socket (one open file description, as
// accept=shared hands every server loop), close-on-exec; invalid with errno
// set on failure.
UniqueFd DupListener(int fd);

// Reads an int socket option back from a live socket (-1 with errno set when
// getsockopt fails).
int GetIntSockopt(int fd, int level, int name);

}  // namespace twbench
