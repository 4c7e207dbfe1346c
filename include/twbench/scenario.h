// The settings of one churn run: a plain struct with defaults, plus the
// spelling of each enum as it appears in benchmark names and CSV columns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "twbench/sysctl.h"

namespace twbench {

// Who ends the connection first, and how. The side that closes first holds
// the TIME_WAIT socket (tcp(7)); an abortive close sends RST and leaves none.
enum class Closer {
  kClient,  // the client closes first: TIME_WAIT on the client's ports
  kServer,  // the server closes first: TIME_WAIT on the server's port
  kRst,     // the server aborts (SO_LINGER {1,0}): RST, no TIME_WAIT
};

enum class Family { kIPv4, kIPv6 };

// Where the two ends talk: over loopback in one namespace, or through a veth
// pair between two namespaces (a real routed path, where the loopback-only
// rule of tcp_tw_reuse=2 does not apply).
enum class Topology { kLoopback, kVeth };

// How a client socket gets its local port.
enum class ClientBind {
  kEphemeral,    // connect() picks one from ip_local_port_range (autobind)
  kRange,        // bind() to the next port of [client_port_min,
                 // client_port_max] before connect, as some load generators do
  kRangeNoPort,  // IP_BIND_ADDRESS_NO_PORT and bind() to port 0: the kernel
                 // picks the port at connect(), knowing the 4-tuple
};

// How the server loops get their connections when there are several.
enum class AcceptMode {
  kReuseport,  // a listener per loop, same address and port, SO_REUSEPORT:
               // the kernel spreads connections by a hash of the 4-tuple
  kShared,     // one listening socket, polled by every loop
               // (docs/loops.md)
};

// How a restart replaces the listener (Scenario::restart_every).
enum class RestartMode {
  kStopStart,  // close the old listener, then bind and listen a new one
  kOverlap,    // bind and listen the new one first, then close the old one
               // (needs SO_REUSEPORT on both)
};

// Where loop threads run.
enum class Pin {
  kNone,    // wherever the scheduler puts them
  kSpread,  // server loop i and client loop i on CPUs 2i and 2i+1 of the
            // allowed set, wrapping
};

// One run's settings. Each field is a row of the settings table
// (settings.h), which spells it in flags, names and CSV columns.
struct Scenario {
  // Socket options of the listener (set before bind, read back by tests).
  bool reuseaddr = false;  // SO_REUSEADDR
  bool reuseport = false;  // SO_REUSEPORT
  Closer closer = Closer::kServer;
  int concurrency = 1;  // client connections in flight, 1..kMaxConcurrency
  // 0: connect and close. N > 0: the client sends N bytes, the server echoes
  // them, then the closer closes.
  std::uint64_t payload = 0;
  Family family = Family::kIPv4;  // 127.0.0.1 or ::1 (veth: 198.18.0.2 or
                                  // 2001:2::2)
  Topology topology = Topology::kLoopback;
  std::uint16_t port = 0;  // listener port; 0 lets the kernel pick
  int backlog = 4096;      // listen(2) backlog (capped by somaxconn)

  // Budget: the run ends after `connections` attempts or `time_limit_s`
  // seconds, whichever comes first.
  std::uint64_t connections = 10000;
  double time_limit_s = 30.0;
  // Deadline of one connection, from connect start to its end.
  double connection_timeout_s = 5.0;

  // Per-namespace kernel knobs (unset: the namespace's default); they need a
  // network namespace of the run's own.
  TcpKnobs knobs;

  // false: the server listens but never accepts (a stalled server).
  bool server_accepts = true;
  // After the churn, close the listener and at once bind a new socket with the
  // same options to the same address and port ("restart the server").
  bool rebind_after = true;

  // How the client gets its port; anything but the default (ephemeral,
  // SO_REUSEADDR off) makes the harness create the client socket itself
  // (docs/client-ports.md).
  ClientBind client_bind = ClientBind::kEphemeral;
  // The ports client_bind=range walks through, wrapping; below the default
  // ip_local_port_range, so they never meet the kernel's own choices.
  int client_port_min = 20000;
  int client_port_max = 20999;
  bool client_reuseaddr = false;  // SO_REUSEADDR on the client socket
  // 0: no restarts. K: the listener closes and rebinds after every K-th
  // accept, retrying up to restart_max_wait_s (docs/restarts.md).
  int restart_every = 0;
  // SO_REUSEADDR of every new listener (restarts, the rebind); unset: as
  // `reuseaddr`. Set apart because the kernel decides a bind by both sides'.
  std::optional<bool> new_reuseaddr;
  // Past Linux's fixed 60 s TIME_WAIT, so a blocked restart can come back.
  double restart_max_wait_s = 65.0;
  RestartMode restart_mode = RestartMode::kStopStart;

  // N server loops and N client loops, each a uv_loop_t on a thread of its
  // own; `concurrency` is split across the client loops.
  int loops = 1;
  AcceptMode accept = AcceptMode::kReuseport;  // with loops > 1
  // Client sockets bind source addresses 127.0.0.1 .. 127.0.0.K (veth: K
  // addresses of the client's side) with IP_BIND_ADDRESS_NO_PORT, in turn.
  int client_addrs = 1;
  Pin pin = Pin::kNone;
};

inline constexpr int kMaxConcurrency = 10000;
inline constexpr int kMaxLoops = 256;
// 127.0.0.1 .. 127.0.0.254; the veth topology's client side has as many.
inline constexpr int kMaxClientAddrs = 254;
inline constexpr std::uint64_t kMaxPayload = 64ull << 20;  // 64 MiB

std::string_view ToString(Closer closer);
std::string_view ToString(Family family);
std::optional<Closer> ParseCloser(std::string_view text);
std::optional<Family> ParseFamily(std::string_view text);
std::string_view ToString(Topology topology);
std::optional<Topology> ParseTopology(std::string_view text);
std::string_view ToString(ClientBind bind);  // "ephemeral", "range", ...
std::optional<ClientBind> ParseClientBind(std::string_view text);
std::string_view ToString(AcceptMode mode);  // "reuseport", "shared"
std::optional<AcceptMode> ParseAcceptMode(std::string_view text);
std::string_view ToString(RestartMode mode);  // "stop_start", "overlap"
std::optional<RestartMode> ParseRestartMode(std::string_view text);
std::string_view ToString(Pin pin);  // "none", "spread"
std::optional<Pin> ParsePin(std::string_view text);

// SO_REUSEPORT on the run's listeners: asked for, or needed by a listener per
// loop (accept=reuseport with loops > 1).
bool ListenerReuseport(const Scenario& scenario);

// Why the scenario cannot run (empty when it can): names the setting and
// what it accepts.
std::string Validate(const Scenario& scenario);

// The settings as they stand in a benchmark's name
// ("reuseaddr:0/reuseport:0/closer:server/conc:64/payload:0/family:ipv4",
// then those away from their default: "/topology:veth/tw_reuse:0/..."):
// spelled by the settings table (settings.h, harness/settings.cpp).
std::string SettingsName(const Scenario& scenario);

}  // namespace twbench
