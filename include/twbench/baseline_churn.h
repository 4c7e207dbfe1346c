// The bare-epoll baseline: the same churn as the engine's payload=0 runs
// (any closer, loops, accept mode, client addresses), written straight on
// Linux sockets and epoll with no libuv, so that the ratio engine / baseline,
// measured in the same run, says how much the harness itself costs
// (docs/speed.md).
#pragma once

#include <atomic>

#include "twbench/churn_stats.h"
#include "twbench/scenario.h"

namespace twbench {

// Why the baseline cannot run the scenario ("" when it can): it fails
// Validate(), or asks for what the baseline does not do: any setting the
// settings table marks unsupported, away from its default (a payload, veth,
// knobs, restarts, client binding, reuseaddr/reuseport); doing less than
// asked would measure something else.
std::string WhyNotBaseline(const Scenario& scenario);

// Runs the scenario's payload=0 churn on loopback with its closer, family,
// concurrency, backlog, budget (connections, time_limit_s),
// connection_timeout_s, server_accepts, loops, accept mode, client_addrs and
// pin; the listeners have SO_REUSEADDR off and SO_REUSEPORT only as
// accept=reuseport needs it, whatever the scenario says. A scenario that asks
// for anything else is refused as `fatal` (WhyNotBaseline).
//
// `loops` server threads and `loops` client threads, each with an epoll set
// of its own, on the CPUs the engine's loops take with pin=spread;
// concurrency and connections split as the engine's (the remainder to the
// first threads). accept=reuseport: a non-blocking listener per server thread
// on one loopback port, SO_REUSEPORT; accept=shared: one listener in every
// server thread's epoll set with EPOLLEXCLUSIVE. Servers accept4 in a loop
// until EAGAIN. Clients keep their share of connects in flight, binding
// 127.0.0.1 .. 127.0.0.K in turn with IP_BIND_ADDRESS_NO_PORT when
// client_addrs = K > 1. Per connection:
//   closer=server: client socket, connect, getsockname, epoll_ctl, read (EOF),
//     close; server accept4, close.
//   closer=client: client socket, connect, getsockname, epoll_ctl (EPOLLOUT),
//     close; server accept4, epoll_ctl, close (on EPOLLRDHUP).
//   closer=rst: as server; the accepted socket inherits SO_LINGER {1,0} from
//     the listener, so its close sends RST; the client reads ECONNRESET.
//
// Fills client.{attempted, completed, connected (= completed: only a
// connection that ended the closer's way is known to have been established),
// resets, unfinished, seconds, hit_time_limit, errors, latency, ports_seen,
// client_ports_distinct, tuple_reuses, client_bind_failures, cpu_user_ns,
// cpu_sys_ns}, server.{accepted, errors, accept_pauses (out of fds a server
// thread stops polling its listener for 1 ms), server_forced_closes,
// cpu_user_ns, cpu_sys_ns}, accepted_per_loop and server_port; `fatal` when
// the setup failed. Never hangs: every connection has its deadline, the run
// its time limit, the servers' end-of-run drain 1 s; `stop` ends it early.
ChurnStats RunBaselineChurn(const Scenario& scenario,
                            const std::atomic<bool>* stop = nullptr);

}  // namespace twbench
