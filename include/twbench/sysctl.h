// The per-namespace TCP sysctls a run depends on, read and set through
// /proc/sys/net/ipv4. Opening a file there resolves to the namespace of the
// OPENING THREAD, not of the process (measured on Linux 6.18: a thread after
// unshare(CLONE_NEWNET) reads and writes its own namespace's values while the
// main thread still sees the host's), and an fd keeps the namespace it was
// opened in (a host-opened fd read from inside still shows the host's value).
// So call these on a thread of the namespace you mean, e.g. inside
// RunInFreshNetns; every call here opens the file afresh.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace twbench {

// Knobs to set; unset ones are left as they are.
struct TcpKnobs {
  std::optional<int> tw_reuse;           // tcp_tw_reuse: 0, 1, 2 (loopback)
  std::optional<int> tw_reuse_delay_ms;  // tcp_tw_reuse_delay
  std::optional<std::pair<int, int>> port_range;  // ip_local_port_range
  std::optional<int> max_tw_buckets;              // tcp_max_tw_buckets
};

// The values in force in the calling thread's namespace.
struct TcpKnobValues {
  int tw_reuse = 0;
  std::optional<int> tw_reuse_delay_ms;  // absent on kernels without it
  int port_min = 0;
  int port_max = 0;
  int max_tw_buckets = 0;
  // tcp_rfc1337: 1 keeps a TIME_WAIT from being ended by an RST. Read, not a
  // knob twbench sets.
  int rfc1337 = 0;
};

// Whether this kernel has tcp_tw_reuse_delay (Linux 6.14 and later; before,
// the delay is a fixed 1 s). The file exists in every namespace alike.
bool KernelHasTwReuseDelay();

// Reads the four knobs of the calling thread's namespace. Throws
// std::system_error naming the file when one (other than the optional
// tcp_tw_reuse_delay) cannot be read, std::runtime_error when it does not
// parse.
TcpKnobValues ReadTcpKnobs();

// Checks every set knob, then writes each in the calling thread's namespace
// and reads it back. Returns "" or one error naming the knob, the value and
// the reason ("ip_local_port_range=100-200: Invalid argument ..."). Nothing is
// written when a value fails the checks; a kernel refusal leaves the knobs
// written before it (order: tw_reuse, tw_reuse_delay, port range, buckets).
std::string ApplyTcpKnobs(const TcpKnobs& knobs);

// "tcp_tw_reuse=2 tcp_tw_reuse_delay=1000 ip_local_port_range=32768-60999
// tcp_max_tw_buckets=131072" (delay omitted when absent), for logs and
// result context.
std::string ToString(const TcpKnobValues& values);

}  // namespace twbench
