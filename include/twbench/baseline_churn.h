// The bare-epoll baseline: the same churn as the engine's closer=server
// payload=0 runs, written straight on Linux sockets and epoll with no libuv,
// so that the ratio engine / baseline, measured in the same run, says how
// much the harness itself costs (docs/speed.md).
#pragma once

#include <atomic>

#include "twbench/churn_stats.h"
#include "twbench/scenario.h"

namespace twbench {

// Why the baseline cannot run the scenario ("" when it can): it fails
// Validate(), or asks for what the baseline does not do: any setting the
// settings table marks unsupported, away from its default (another closer, a
// payload, veth, knobs, restarts, client binding); doing less than asked
// would measure something else.
std::string WhyNotBaseline(const Scenario& scenario);

// Runs the scenario's closer=server, payload=0 churn on loopback with its
// family, concurrency, backlog, budget (connections, time_limit_s),
// connection_timeout_s and server_accepts; the listener has SO_REUSEADDR and
// SO_REUSEPORT off whatever the scenario says. A scenario that asks for
// anything else (another closer, a payload, veth, knobs, restarts, client
// binding) is refused as `fatal` (WhyNotBaseline).
//
// One server thread (non-blocking listener on loopback port 0, accept4 in a
// loop, each accepted socket closed at once: server-side close) and the
// calling thread as the client (`concurrency` non-blocking connects in
// flight; each waits for the server's FIN, reads the EOF, closes and starts
// the next). Per connection: socket, connect, epoll_ctl, epoll_wait, read,
// close on the client; accept4, close on the server.
//
// Fills client.{attempted, completed, connected (= completed: only a
// connection that got the FIN is known to have been established),
// unfinished, seconds, hit_time_limit, errors, latency}, server.{accepted,
// errors, accept_pauses (out of fds the server stops polling its listener
// for 1 ms)} and server_port; `fatal` when the setup failed. Never hangs:
// every connection has its deadline, the run its time limit; `stop` ends it
// early.
ChurnStats RunBaselineChurn(const Scenario& scenario,
                            const std::atomic<bool>* stop = nullptr);

}  // namespace twbench
