#include "twbench/scenario.h"

#include <initializer_list>
#include <string>

namespace twbench {
namespace {

// The value of `all` whose ToString() is `text`; none when no value's is.
template <typename E>
std::optional<E> ByName(std::string_view text, std::initializer_list<E> all) {
  for (E value : all) {
    if (text == ToString(value)) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view ToString(Closer closer) {
  switch (closer) {
    case Closer::kClient:
      return "client";
    case Closer::kServer:
      return "server";
    case Closer::kRst:
      return "rst";
  }
  return "?";
}

std::string_view ToString(Family family) {
  return family == Family::kIPv4 ? "ipv4" : "ipv6";
}

std::optional<Closer> ParseCloser(std::string_view text) {
  return ByName(text, {Closer::kClient, Closer::kServer, Closer::kRst});
}

std::optional<Family> ParseFamily(std::string_view text) {
  return ByName(text, {Family::kIPv4, Family::kIPv6});
}

std::string_view ToString(Topology topology) {
  return topology == Topology::kLoopback ? "loopback" : "veth";
}

std::optional<Topology> ParseTopology(std::string_view text) {
  return ByName(text, {Topology::kLoopback, Topology::kVeth});
}

std::string_view ToString(ClientBind bind) {
  switch (bind) {
    case ClientBind::kEphemeral:
      return "ephemeral";
    case ClientBind::kRange:
      return "range";
    case ClientBind::kRangeNoPort:
      return "range_no_port";
  }
  return "?";
}

std::optional<ClientBind> ParseClientBind(std::string_view text) {
  return ByName(text, {ClientBind::kEphemeral, ClientBind::kRange,
                       ClientBind::kRangeNoPort});
}

std::string_view ToString(AcceptMode mode) {
  return mode == AcceptMode::kReuseport ? "reuseport" : "shared";
}

std::optional<AcceptMode> ParseAcceptMode(std::string_view text) {
  return ByName(text, {AcceptMode::kReuseport, AcceptMode::kShared});
}

std::string_view ToString(RestartMode mode) {
  return mode == RestartMode::kStopStart ? "stop_start" : "overlap";
}

std::optional<RestartMode> ParseRestartMode(std::string_view text) {
  return ByName(text, {RestartMode::kStopStart, RestartMode::kOverlap});
}

std::string_view ToString(Pin pin) {
  return pin == Pin::kNone ? "none" : "spread";
}

std::optional<Pin> ParsePin(std::string_view text) {
  return ByName(text, {Pin::kNone, Pin::kSpread});
}

bool ListenerReuseport(const Scenario& s) {
  return s.reuseport || (s.loops > 1 && s.accept == AcceptMode::kReuseport);
}

std::string Validate(const Scenario& s) {
  if (s.concurrency < 1 || s.concurrency > kMaxConcurrency) {
    return "concurrency must be 1.." + std::to_string(kMaxConcurrency) +
           ", got " + std::to_string(s.concurrency);
  }
  if (s.payload > kMaxPayload) {
    return "payload must be 0.." + std::to_string(kMaxPayload) +
           " bytes, got " + std::to_string(s.payload);
  }
  if (s.connections < 1) return "connections must be at least 1";
  if (!(s.time_limit_s > 0)) return "time_limit must be > 0 seconds";
  if (!(s.connection_timeout_s > 0)) {
    return "connection_timeout must be > 0 seconds";
  }
  if (s.backlog < 1) return "backlog must be at least 1";
  if (s.client_port_min < 1 || s.client_port_max > 65535 ||
      s.client_port_min > s.client_port_max) {
    return "client_ports must be MIN-MAX with 1 <= MIN <= MAX <= 65535, got " +
           std::to_string(s.client_port_min) + "-" +
           std::to_string(s.client_port_max);
  }
  if (s.restart_every < 0) {
    return "restart_every must be >= 0 (0: never; K: restart the listener "
           "every K accepted connections), got " +
           std::to_string(s.restart_every);
  }
  if (!(s.restart_max_wait_s > 0)) {
    return "restart_max_wait must be > 0 seconds";
  }
  if (s.loops < 1 || s.loops > kMaxLoops) {
    return "loops must be 1.." + std::to_string(kMaxLoops) + ", got " +
           std::to_string(s.loops);
  }
  if (s.concurrency < s.loops) {
    return "concurrency " + std::to_string(s.concurrency) + " is below loops " +
           std::to_string(s.loops) +
           ": every client loop needs a connection in flight";
  }
  if (s.client_addrs < 1 || s.client_addrs > kMaxClientAddrs) {
    return "client_addrs must be 1.." + std::to_string(kMaxClientAddrs) +
           ", got " + std::to_string(s.client_addrs);
  }
  if (s.client_addrs > 1 && s.family == Family::kIPv6 &&
      s.topology == Topology::kLoopback) {
    return "client_addrs " + std::to_string(s.client_addrs) +
           " with family ipv6 on loopback: ::1 is the only IPv6 loopback "
           "address (use family ipv4, or topology veth)";
  }
  if (s.client_addrs > 253 && s.topology == Topology::kVeth) {
    return "client_addrs " + std::to_string(s.client_addrs) +
           " on topology veth: its client side has 253 addresses "
           "(198.18.0.1, .3 .. .254)";
  }
  if (s.client_addrs > 1 && s.client_bind == ClientBind::kRange) {
    return "client_addrs " + std::to_string(s.client_addrs) +
           " with client_bind range: a range binds one address";
  }
  return {};
}

}  // namespace twbench
