#include "twbench/columns.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

namespace twbench {
namespace {

constexpr Section kNoSection{"", ""};
// Section titles of the counter columns, in order.
constexpr Section kS0{"The churn", ""};
constexpr Section kS1{"TIME_WAIT left behind", ""};
constexpr Section kS2{"Binding, and failures by errno", ""};
constexpr Section kS3{"Failures by step", ""};
constexpr Section kS4{"Latency", ""};
constexpr Section kS5{"The run's sockets", ""};
constexpr Section kS6{"Kernel counters",
                      "(deltas of `/proc/net/netstat` TcpExt over the run; on "
                      "`topology=veth` both namespaces added up)"};
constexpr Section kS7{
    "Kernel settings in force, and the namespace's TIME_WAIT total",
    "(read back in the run's namespace after the knobs were set: what "
    "was in force, set by a flag or the namespace's default; on "
    "`topology=veth` the client's namespace, where `connect()` acts)"};
constexpr Section kS8{"Client ports and port exhaustion",
                      "([docs/client-ports.md](../docs/client-ports.md))"};
constexpr Section kS9{"Listener restarts",
                      "([docs/restarts.md](../docs/restarts.md); all but "
                      "`bind_fail_per_s` are 0 when `restart_every=0`)"};
constexpr Section kS11{"Loops, accept balance and CPU",
                       "([docs/loops.md](../docs/loops.md))"};
constexpr Section kS12{
    "Hosts",
    "(the MPI mode, `mpirun -np 1+K twbench`: rank 0 writes one row per run; "
    "the counts are the server rank's and the client ranks' summed)"};
constexpr Section kS10{
    "The TIME_WAIT ledger",
    "([docs/time-wait-ledger.md](../docs/time-wait-ledger.md)): `tcpext_tw` "
    "= `time_wait` + `tcpext_tw_recycled` + `tcpext_tw_killed` + "
    "`tw_taken_over` + `tw_reset` + `tw_expired` + `tw_unexplained`; every "
    "term but `time_wait` is -1 when `isolated=0` (the kernel's counters are "
    "not the run's own)"};

// One row per column, in CSV order. Directions: docs/regression.md.
// clang-format off
constexpr Column kColumns[] = {
    {"name", ColumnGroup::kIdentity, &kNoSection, "text", Compare::kNone, false,
     "the benchmark's run name, settings included "
     "(`BM_Churn/reuseaddr:0/reuseport:0/closer:server/conc:64/payload:0/family:ipv4/iterations:1/real_time`); "
     "settings left at their default (topology, kernel knobs, client "
     "binding, restarts) are not in it. No aggregate suffix — the "
     "statistic is in `aggregate`"},
    {"run_type", ColumnGroup::kIdentity, &kNoSection, "text", Compare::kNone, false,
     "`iteration` (one repetition's measurement) or `aggregate`"},
    {"aggregate", ColumnGroup::kIdentity, &kNoSection, "text", Compare::kNone, false,
     "empty for iteration rows; `mean`, `median`, `stddev` or `cv` for "
     "aggregates"},
    {"repetition", ColumnGroup::kIdentity, &kNoSection, "count", Compare::kNone, false,
     "0-based index of the repetition; empty for aggregates"},
    {"repetitions", ColumnGroup::kIdentity, &kNoSection, "count", Compare::kNone, false,
     "repetitions of this benchmark in the run"},
    {"error", ColumnGroup::kIdentity, &kNoSection, "text", Compare::kNone, false,
     "why the run stopped (Google Benchmark's `SkipWithError` message); "
     "empty when it did not. An errored row has no counters, no "
     "`real_time_s` and no `isolated`/`port_range`"},
    {"label", ColumnGroup::kIdentity, &kNoSection, "text", Compare::kNone, false,
     "the benchmark's label: `rebind=bound` or `rebind=<errno>` with "
     "the sockets that blocked the port "
     "(`rebind=EADDRINUSE(TIME_WAIT=200)`), then `,time_limit` or "
     "`,interrupted` when the run was cut"},
    {"reuseaddr", ColumnGroup::kSetting, &kNoSection, "0/1", Compare::kNone, false,
     "`SO_REUSEADDR` set on the first listener; the new listeners "
     "(restarts, the rebind after the run) use `new_reuseaddr`"},
    {"reuseport", ColumnGroup::kSetting, &kNoSection, "0/1", Compare::kNone, false,
     "`SO_REUSEPORT` set on the listener and on every new one "
     "(restarts, rebind)"},
    {"closer", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "who closes first: `client`, `server` (that side holds TIME_WAIT), "
     "or `rst` (the server aborts with `SO_LINGER {1,0}`: RST, no "
     "TIME_WAIT)"},
    {"concurrency", ColumnGroup::kSetting, &kNoSection, "count", Compare::kNone, false,
     "client connections in flight at once"},
    {"payload", ColumnGroup::kSetting, &kNoSection, "bytes", Compare::kNone, false,
     "bytes the client sends and the server echoes per connection; 0 = "
     "connect and close"},
    {"family", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "`ipv4` (127.0.0.1) or `ipv6` (::1); on `topology=veth` the veth "
     "addresses"},
    {"budget_connections", ColumnGroup::kSetting, &kNoSection, "count", Compare::kNone, false,
     "connection attempts the run may make"},
    {"time_limit_s", ColumnGroup::kSetting, &kNoSection, "s", Compare::kNone, false,
     "wall-time limit of the run; the run ends at whichever budget "
     "comes first"},
    {"topology", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "`loopback` (client and server in one namespace) or `veth` (two "
     "namespaces joined by a veth pair, 198.18.0.0/24 and 2001:2::/64)"},
    {"client_bind", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "how a client socket gets its port: `ephemeral` (`connect()` picks "
     "it), `range` (`bind()` to the next port of `client_port_range`), "
     "`range_no_port` (`IP_BIND_ADDRESS_NO_PORT`, port picked at "
     "`connect()`) — [docs/client-ports.md](../docs/client-ports.md)"},
    {"client_port_range", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "`MIN-MAX` of `--client_ports`, the ports `client_bind=range` "
     "walks through; empty unless `client_bind=range` (the counter "
     "`client_ports` is something else: distinct ports used)"},
    {"client_reuseaddr", ColumnGroup::kSetting, &kNoSection, "0/1", Compare::kNone, false,
     "`SO_REUSEADDR` on the client socket"},
    {"restart_every", ColumnGroup::kSetting, &kNoSection, "connections", Compare::kNone, false,
     "the server restarts its listener after every K-th accepted "
     "connection; 0: no restarts — "
     "[docs/restarts.md](../docs/restarts.md)"},
    {"new_reuseaddr", ColumnGroup::kSetting, &kNoSection, "0/1", Compare::kNone, false,
     "`SO_REUSEADDR` of every new listener socket (restarts and the "
     "rebind after the run) as in force: `--new_reuseaddr`, or "
     "`reuseaddr` when not given"},
    {"restart_max_wait_s", ColumnGroup::kSetting, &kNoSection, "s", Compare::kNone, false,
     "how long a restart keeps retrying `bind()`, from the old "
     "listener's close; then it has failed"},
    {"restart_mode", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "how a restart replaces the listener: `stop_start` (close, then "
     "bind) or `overlap` (bind and listen the new one, then close the "
     "old one; `SO_REUSEPORT` needed)"},
    {"loops", ColumnGroup::kSetting, &kNoSection, "count", Compare::kNone, false,
     "server loops, and as many client loops, each a `uv_loop_t` on its "
     "own thread; `concurrency` is their total"},
    {"accept", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "with `loops` > 1: `reuseport` (a listener per server loop, "
     "`SO_REUSEPORT`) or `shared` (one listening socket, every server loop "
     "polls it) — [docs/loops.md](../docs/loops.md)"},
    {"client_addrs", ColumnGroup::kSetting, &kNoSection, "count", Compare::kNone, false,
     "source addresses the client sockets bind in turn (127.0.0.1 .. "
     "127.0.0.K; `IP_BIND_ADDRESS_NO_PORT`); 1 and `client_bind=ephemeral`: "
     "no bind at all"},
    {"pin", ColumnGroup::kSetting, &kNoSection, "text", Compare::kNone, false,
     "`none` or `spread`: loop threads pinned to CPUs (server loop i and "
     "client loop i on the 2i-th and (2i+1)-th allowed CPU)"},
    {"connections", ColumnGroup::kCounter, &kS0, "count", Compare::kBehaviour, false,
     "connections that completed as the closer meant"},
    {"attempted", ColumnGroup::kCounter, &kS0, "count", Compare::kBehaviour, false,
     "connections the client started (the budget counts attempts; a "
     "failed client `bind()` is an attempt too)"},
    {"accepted", ColumnGroup::kCounter, &kS0, "count", Compare::kBehaviour, false,
     "connections the server accepted"},
    {"seconds", ColumnGroup::kCounter, &kS0, "s", Compare::kBehaviour, false,
     "wall time of the churn (a run that hits `time_limit_s` takes the "
     "limit; compare `conn_per_s`)"},
    {"conn_per_s", ColumnGroup::kCounter, &kS0, "connections/s", Compare::kHigher, true,
     "`connections / seconds`"},
    {"time_wait", ColumnGroup::kCounter, &kS1, "sockets", Compare::kBehaviour, true,
     "TIME_WAIT sockets holding the run's ports once the run has "
     "settled in the kernel (no socket of the run still closing), "
     "server side plus client side, counted with the netlink socket "
     "census (`NETLINK_SOCK_DIAG`). One TIME_WAIT per 4-tuple: with "
     "`closer=server` the client's port is free at once and a reused "
     "port takes over the server's TIME_WAIT of that tuple, so this is "
     "close to `client_ports`, not to `connections`; `tcpext_tw` says "
     "how many entered TIME_WAIT"},
    {"time_wait_server", ColumnGroup::kCounter, &kS1, "sockets", Compare::kBehaviour, false,
     "TIME_WAIT sockets whose local port is the server port (the server "
     "closed first)"},
    {"time_wait_client", ColumnGroup::kCounter, &kS1, "sockets", Compare::kBehaviour, false,
     "TIME_WAIT sockets whose remote port is the server port (the "
     "client's ends: the client closed first)"},
    {"time_wait_per_conn", ColumnGroup::kCounter, &kS1, "ratio", Compare::kBehaviour, true,
     "`time_wait / connections` (≈1 when the closer's side holds one "
     "TIME_WAIT per connection, ≈0 with `closer=rst`)"},
    {"rebind_ok", ColumnGroup::kCounter, &kS2, "0/1", Compare::kBehaviour, true,
     "1 if a fresh socket (`SO_REUSEADDR` = `new_reuseaddr`, "
     "`SO_REUSEPORT` = `reuseport`) could `bind()` and `listen()` on "
     "the listener's address right after the last listener closed and "
     "the run's sockets on the port finished closing on the wire "
     "(\"restart the server\"; see `rebind_wait_ms`), 0 if it failed "
     "(`label` names the blockers)"},
    {"bind_failures", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, true,
     "every failed `bind()`/`listen()` of the run (a failed "
     "`socket()`/`setsockopt()` of a new listener socket included): the "
     "listener's restart retries (about 20 per second while a restart "
     "is blocked), the rebind after the run (at most 1), and the "
     "client's binds with `client_bind=range`/`range_no_port` "
     "(`client_bind_failures` is the client's part)"},
    {"eaddrinuse", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, true,
     "failures with `EADDRINUSE`, over all steps: a listener's `bind()` "
     "(restart or rebind: a TIME_WAIT or live socket holds the address) "
     "or a client's `bind()` (`client_bind_eaddrinuse` is that part)"},
    {"eaddrnotavail", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, true,
     "failures with `EADDRNOTAVAIL`, over all steps: in practice at "
     "`connect()`, the client out of ephemeral ports "
     "(`connect_eaddrnotavail` is the connect part)"},
    {"econnrefused", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, false,
     "failures with `ECONNREFUSED`, over all steps (e.g. connects while "
     "a restarting listener was down)"},
    {"econnreset", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, false,
     "failures with `ECONNRESET`, over all steps (resets not expected "
     "by the closer, e.g. connections lost in a restarted listener's "
     "accept queue; see `resets`)"},
    {"etimedout", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, false,
     "connections that hit their per-connection deadline "
     "(`--connection_timeout`)"},
    {"emfile", ColumnGroup::kCounter, &kS2, "count", Compare::kBehaviour, false,
     "failures with `EMFILE` (the process ran out of file descriptors; "
     "twbench first raises its soft limit to what the largest "
     "concurrency needs). Counted where the process sees them: the "
     "client's `socket()`/`connect()`, and the server's `accept()` only "
     "when libuv has no spare fd left; libuv absorbs the others and "
     "drops the connection (`not_accepted`) "
     "([docs/engine-limits.md](../docs/engine-limits.md))"},
    {"connect_errors", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, false,
     "failures at connect (a failed `socket()`/`setsockopt()` of a "
     "client socket the harness makes itself, and connect timeouts, "
     "included)"},
    {"accept_errors", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, false,
     "failures at accept"},
    {"read_errors", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, false,
     "failures at read"},
    {"write_errors", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, false,
     "failures at write"},
    {"errors_total", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, true,
     "all failures, every step (bind and listen included) and errno"},
    {"resets", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, false,
     "`closer=rst` connections the client saw end with RST — expected, "
     "not errors"},
    {"unfinished", ColumnGroup::kCounter, &kS3, "count", Compare::kBehaviour, false,
     "connections still in flight when the run's time limit struck"},
    {"lat_p50_us", ColumnGroup::kCounter, &kS4, "µs", Compare::kLower, true,
     "median per-connection latency, from connect start to close"},
    {"lat_p90_us", ColumnGroup::kCounter, &kS4, "µs", Compare::kLower, true,
     "90th percentile of the same latency"},
    {"lat_p99_us", ColumnGroup::kCounter, &kS4, "µs", Compare::kLower, true,
     "99th percentile of the same latency"},
    {"lat_max_us", ColumnGroup::kCounter, &kS4, "µs", Compare::kLower, false,
     "largest per-connection latency"},
    {"server_port", ColumnGroup::kCounter, &kS5, "port", Compare::kNone, false,
     "the listener's port (a port, not a measure; differs run to run "
     "when the kernel picks it)"},
    {"client_ports", ColumnGroup::kCounter, &kS5, "count", Compare::kBehaviour, false,
     "distinct local endpoints (source address and port) the client's "
     "established connections had, over all client loops; with one source "
     "address, distinct ports"},
    {"connected", ColumnGroup::kCounter, &kS5, "count", Compare::kBehaviour, false,
     "connections the client saw established (connect succeeded)"},
    {"server_forced_closes", ColumnGroup::kCounter, &kS5, "count", Compare::kBehaviour, false,
     "server connections still open 1 s after the client finished, "
     "closed by the server then"},
    {"census_settled", ColumnGroup::kCounter, &kS5, "0/1", Compare::kBehaviour, false,
     "1 if no socket of the run was still closing (FIN_WAIT1/2, "
     "CLOSING, LAST_ACK, CLOSE_WAIT) when TIME_WAIT was counted; 0 if "
     "the 2 s settle wait ran out"},
    {"tcpext_tw", ColumnGroup::kCounter, &kS6, "count", Compare::kBehaviour, false,
     "`TW`: sockets that entered TIME_WAIT. Exact for the run when "
     "`isolated=1`. TcpExt counts a whole namespace and cannot be "
     "filtered by port, so every `tcpext_*` column is -1 (not the run's "
     "own) when `isolated=0`"},
    {"tcpext_tw_recycled", ColumnGroup::kCounter, &kS6, "count", Compare::kBehaviour, false,
     "`TWRecycled`: TIME_WAIT sockets taken over by `connect()` "
     "(`tcp_tw_reuse`, or a client bound to a port with `SO_REUSEADDR`)"},
    {"tcpext_tw_killed", ColumnGroup::kCounter, &kS6, "count", Compare::kBehaviour, false,
     "`TWKilled`"},
    {"tcpext_tw_overflow", ColumnGroup::kCounter, &kS6, "count", Compare::kBehaviour, false,
     "`TCPTimeWaitOverflow`: sockets closed without TIME_WAIT because "
     "`tcp_max_tw_buckets` was full"},
    {"tcpext_listen_overflows", ColumnGroup::kCounter, &kS6, "count", Compare::kBehaviour, false,
     "`ListenOverflows`: connections dropped because the accept queue "
     "was full"},
    {"tcpext_listen_drops", ColumnGroup::kCounter, &kS6, "count", Compare::kBehaviour, false,
     "`ListenDrops`"},
    {"tw_reuse", ColumnGroup::kCounter, &kS7, "0/1/2", Compare::kNone, false,
     "`net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only "
     "(`--tw_reuse`) (context: compare warns when it differs)"},
    {"tw_reuse_delay_ms", ColumnGroup::kCounter, &kS7, "ms", Compare::kNone, false,
     "`net.ipv4.tcp_tw_reuse_delay` (`--tw_reuse_delay`); -1 on a "
     "kernel without it (before Linux 6.14) (context)"},
    {"port_min", ColumnGroup::kCounter, &kS7, "port", Compare::kNone, false,
     "low end of `net.ipv4.ip_local_port_range` (`--port_range`) "
     "(context, as `port_range`)"},
    {"port_max", ColumnGroup::kCounter, &kS7, "port", Compare::kNone, false,
     "high end of the same (context, as `port_range`)"},
    {"max_tw_buckets", ColumnGroup::kCounter, &kS7, "sockets", Compare::kNone, false,
     "`net.ipv4.tcp_max_tw_buckets` (`--max_tw_buckets`) (context)"},
    {"sockstat_tw", ColumnGroup::kCounter, &kS7, "sockets", Compare::kBehaviour, false,
     "`tw` of `/proc/net/sockstat` in the run's namespace after the "
     "census: every TIME_WAIT of the namespace, a cheap cross-check of "
     "`time_wait`; -1 where it is not the run's own total "
     "(`isolated=0`, or `topology=veth`, whose two namespaces the "
     "census adds up)"},
    {"client_bind_failures", ColumnGroup::kCounter, &kS8, "count", Compare::kBehaviour, false,
     "failed `bind()` of client sockets "
     "(`client_bind=range`/`range_no_port`), any errno. Also in "
     "`bind_failures`, `errors_total` and, by errno, `eaddrinuse`, "
     "which count the listener's failures too"},
    {"client_bind_eaddrinuse", ColumnGroup::kCounter, &kS8, "count", Compare::kBehaviour, false,
     "of those, `EADDRINUSE`: the port is held (TIME_WAIT, FIN_WAIT2, a "
     "live connection) and the sockets' `SO_REUSEADDR` do not allow "
     "sharing it"},
    {"connect_eaddrnotavail", ColumnGroup::kCounter, &kS8, "count", Compare::kBehaviour, false,
     "`connect()` failed with `EADDRNOTAVAIL`: autobind found no free "
     "port, or the bound port's 4-tuple is taken (`eaddrnotavail` "
     "counts the same errno at every step)"},
    {"first_connect_failure_s", ColumnGroup::kCounter, &kS8, "s", Compare::kBehaviour, false,
     "from the churn's start to the first attempt that failed before it "
     "was established — at the client's `bind()` or at `connect()`, any "
     "errno (a connect timeout too); `nan` when none failed"},
    {"completed_before_failure", ColumnGroup::kCounter, &kS8, "count", Compare::kBehaviour, false,
     "connections completed before that first failure (all of them when "
     "none failed)"},
    {"conn_per_s_before_failure", ColumnGroup::kCounter, &kS8, "connections/s", Compare::kHigher, false,
     "`completed_before_failure / first_connect_failure_s`; equals "
     "`conn_per_s` when none failed"},
    {"conn_per_s_after_failure", ColumnGroup::kCounter, &kS8, "connections/s", Compare::kBehaviour, false,
     "`(connections − completed_before_failure) / (seconds − "
     "first_connect_failure_s)`: the rate once the ports ran out; `nan` "
     "when none failed"},
    {"restarts", ColumnGroup::kCounter, &kS9, "count", Compare::kBehaviour, false,
     "restarts that were listening again"},
    {"restarts_failed", ColumnGroup::kCounter, &kS9, "count", Compare::kBehaviour, false,
     "`restart_mode=stop_start`: restarts that gave up at "
     "`restart_max_wait_s` (the server then stays down for the rest of the "
     "run: every connect refused), or were still retrying when the client "
     "finished. `overlap`: restarts whose new `bind()` failed (without "
     "`SO_REUSEPORT`: `EADDRINUSE`); the old listener keeps serving"},
    {"bind_fail_per_s", ColumnGroup::kCounter, &kS9, "1/s", Compare::kBehaviour, false,
     "`bind_failures / seconds` (the churn's seconds), all of them: the "
     "rebind's and the client's too. With restarts its size follows the "
     "retry schedule (1 ms doubling to 50 ms); whether it is 0 is the "
     "kernel's answer"},
    {"restart_downtime_p50_ms", ColumnGroup::kCounter, &kS9, "ms", Compare::kLower, false,
     "median, over the completed restarts, of the time from the old "
     "listener's close to `listen()` of the new one (`overlap`: 0, the new "
     "one listens before the old one closes); 0 when none completed"},
    {"restart_downtime_max_ms", ColumnGroup::kCounter, &kS9, "ms", Compare::kLower, false,
     "the longest such time (exact); 0 when none completed"},
    {"server_down_ms", ColumnGroup::kCounter, &kS9, "ms", Compare::kBehaviour, false,
     "total time without a listener during the churn: completed "
     "restarts plus a failed one up to the client's end (for a restart "
     "that never came back: the measured lower bound); with several "
     "loops, the time no loop had one"},
    {"accept_queue_lost", ColumnGroup::kCounter, &kS9, "count", Compare::kBehaviour, false,
     "connections in a listener's accept queue when a restart closed it "
     "(the kernel resets them; the client saw them established, the "
     "server never accepts them)"},
    {"time_wait_at_start", ColumnGroup::kCounter, &kS7, "sockets", Compare::kBehaviour, false,
     "`tw` of `/proc/net/sockstat` in the run's namespace(s) just "
     "before the churn: the TIME_WAIT the run inherits. Always 0 when "
     "`isolated=1` (a fresh namespace); with `isolated=0` every "
     "TIME_WAIT of the host, earlier runs' among them (see `--port` to "
     "make a run count them in `time_wait` too)"},
    {"rebind_wait_ms", ColumnGroup::kCounter, &kS2, "ms", Compare::kBehaviour, false,
     "how long the rebind waited for the run's sockets on the server "
     "port to finish closing (FIN_WAIT, CLOSING, LAST_ACK, CLOSE_WAIT; "
     "TIME_WAIT stays), polling the netlink census every 1 ms, at most "
     "1000 ms; 0 when there was no rebind. A close that needed one "
     "retransmission takes ~200 ms (the minimum RTO) "
     "([docs/engine-limits.md](../docs/engine-limits.md))"},
    {"not_accepted", ColumnGroup::kCounter, &kS0, "count", Compare::kBehaviour, false,
     "connections the client saw established that the server never "
     "accepted: `connected − accepted − accept_queue_lost`, at least 0. "
     "0 in a healthy run; out of fds, libuv accepts and closes them for "
     "the server ([docs/engine-limits.md](../docs/engine-limits.md))"},
    {"tuple_reuses", ColumnGroup::kCounter, &kS10, "count",
     Compare::kBehaviour, false,
     "connections established on a 4-tuple an earlier connection of the run "
     "had used (one server address and port: a source address and port "
     "seen before, in any client loop), counted by the client"},
    {"tcp_out_rsts", ColumnGroup::kCounter, &kS10, "count",
     Compare::kBehaviour, false,
     "`OutRsts` of `/proc/net/snmp` over the run (both namespaces on "
     "`topology=veth`): every RST the run's namespace sent, the aborts' "
     "(`closer=rst`) included"},
    {"tw_taken_over", ColumnGroup::kCounter, &kS10, "sockets",
     Compare::kBehaviour, false,
     "TIME_WAIT ended by a new connection on the same 4-tuple: "
     "`tuple_reuses` when the server closed first (its TIME_WAIT meets the "
     "client's next SYN from that port; no kernel counter counts it), 0 "
     "otherwise (a client's reused TIME_WAIT is `tcpext_tw_recycled`)"},
    {"tw_reset", ColumnGroup::kCounter, &kS10, "sockets",
     Compare::kBehaviour, false,
     "TIME_WAIT ended by an RST: `tcp_out_rsts` less the aborts' own "
     "(TcpExt `TCPAbortOn*`). On two CPUs a delayed ACK can reach the "
     "TIME_WAIT after the peer's socket is gone; the peer answers the "
     "TIME_WAIT's ACK with an RST, which ends it (`tcp_rfc1337=0`). 0 when "
     "`tcp_rfc1337=1`"},
    {"tw_expired", ColumnGroup::kCounter, &kS10, "sockets",
     Compare::kBehaviour, false,
     "TIME_WAIT that reached Linux's fixed 60 s end before the census: 0 for "
     "a run shorter than that; `nan` (not counted) for a run of 60 s or "
     "more"},
    {"tw_unexplained", ColumnGroup::kCounter, &kS10, "sockets",
     Compare::kBehaviour, false,
     "`tcpext_tw` less every other term of the ledger: 0 when the books "
     "balance. Negative (at most `tw_reset` in size) only with "
     "`closer=server` and reused tuples, when a TIME_WAIT was reset and its "
     "tuple later reused: counted in both terms. `nan` when `tw_expired` is"},
    {"accept_share_min", ColumnGroup::kCounter, &kS11, "fraction",
     Compare::kBehaviour, false,
     "accepts of the server loop that accepted fewest, as a share of all "
     "accepts: `1/loops` when even, 0 when a loop accepted none; 1 with one "
     "loop"},
    {"accept_share_max", ColumnGroup::kCounter, &kS11, "fraction",
     Compare::kBehaviour, false,
     "accepts of the server loop that accepted most, as a share of all "
     "accepts"},
    {"client_addrs_used", ColumnGroup::kCounter, &kS11, "count",
     Compare::kBehaviour, false,
     "source addresses at least one established connection had"},
    {"cpu_user_s", ColumnGroup::kCounter, &kS11, "s", Compare::kLower,
     false,
     "user CPU time of the run's loop threads, server and client, each "
     "read with `getrusage(RUSAGE_THREAD)` at its end, summed"},
    {"cpu_sys_s", ColumnGroup::kCounter, &kS11, "s", Compare::kLower, false,
     "system CPU time of the same threads: the kernel's TCP work done on "
     "their behalf, loopback's softirq included when it ran in them"},
    {"cpu_us_per_conn", ColumnGroup::kCounter, &kS11, "µs", Compare::kLower,
     false, "`(cpu_user_s + cpu_sys_s) / attempted`, in microseconds"},
    {"hosts", ColumnGroup::kCounter, &kS12, "count", Compare::kNone, false,
     "ranks of the MPI job the run spanned (one server rank, the others "
     "clients); 1 without MPI"},
    {"client_hosts_conn_per_s_min", ColumnGroup::kCounter, &kS12,
     "connections/s", Compare::kHigher, false,
     "the slowest client rank's `completed / seconds`, each rank timed by "
     "its own clock; without MPI `conn_per_s`"},
    {"client_hosts_conn_per_s_max", ColumnGroup::kCounter, &kS12,
     "connections/s", Compare::kBehaviour, false,
     "the fastest client rank's, likewise; far from `_min`: the client "
     "hosts were not loaded alike"},
    {"real_time_s", ColumnGroup::kTime, &kNoSection, "s", Compare::kNone, false,
     "wall time per benchmark iteration, as Google Benchmark measured "
     "it (`real_accumulated_time / iterations`): the churn plus thread "
     "and namespace set-up and the census; for aggregates the statistic "
     "of it (`cv`: a fraction); empty on an errored row. Direction: "
     "behaviour, as `seconds`; compare `conn_per_s`"},
    {"kernel", ColumnGroup::kContext, &kNoSection, "text", Compare::kNone, false,
     "kernel release (`uname -r`)"},
    {"libuv_version", ColumnGroup::kContext, &kNoSection, "text", Compare::kNone, false,
     "version of the libuv linked in (`uv_version_string()`)"},
    {"git_commit", ColumnGroup::kContext, &kNoSection, "text", Compare::kNone, false,
     "commit the binary was configured from (`git describe --always "
     "--dirty`); the environment variable `TWBENCH_GIT_COMMIT`, when "
     "set and non-empty, overrides it"},
    {"host", ColumnGroup::kContext, &kNoSection, "text", Compare::kNone, false,
     "host name (`uname -n`)"},
    {"utc", ColumnGroup::kContext, &kNoSection, "time", Compare::kNone, false,
     "start of the run, ISO 8601 UTC (`2026-11-23T19:22:21Z`)"},
    {"isolated", ColumnGroup::kContext, &kNoSection, "0/1", Compare::kNone, false,
     "1 if the run had a network namespace of its own (`--isolate=auto` "
     "when the process may make one, or `on`; always so on "
     "`topology=veth`), 0 if it ran in the host's (`time_wait` is then "
     "filtered by the run's server port; the host's TIME_WAIT, earlier "
     "runs' included, shows in `time_wait_at_start`; "
     "`tcp_max_tw_buckets` is shared with the host; the `tcpext_*` "
     "columns and `sockstat_tw` are -1)"},
    {"port_range", ColumnGroup::kContext, &kNoSection, "text", Compare::kNone, false,
     "`ip_local_port_range` in force, `MIN-MAX` from `port_min` and "
     "`port_max` (`32768-60999`)"},
    {"sample_interval_ms", ColumnGroup::kJsonOnly, &kNoSection, "ms",
     Compare::kNone, false,
     "the time series' interval (`--sample_interval_ms`); 0 when the run "
     "was not sampled (no `--timeseries`)"},
};
// clang-format on

// Appended, not "`" + string: GCC 12 warns falsely (-Wrestrict) on the
// inlined operator+ in a Release build.
std::string Code(std::string_view text) {
  std::string out(1, '`');
  out.append(text).push_back('`');
  return out;
}

std::string_view Direction(const Column& c) {
  switch (c.compare) {
    case Compare::kHigher:
      return c.default_compared ? "higher better (default)" : "higher better";
    case Compare::kLower:
      return c.default_compared ? "lower better (default)" : "lower better";
    case Compare::kBehaviour:
      return c.default_compared ? "behaviour (default)" : "behaviour";
    case Compare::kNone:
      break;
  }
  return "—";
}

std::string_view GroupTitle(ColumnGroup group) {
  switch (group) {
    case ColumnGroup::kIdentity:
      return "Identity";
    case ColumnGroup::kSetting:
      return "Settings";
    case ColumnGroup::kCounter:
      return "Counters";
    case ColumnGroup::kTime:
      return "Time";
    case ColumnGroup::kContext:
      return "Context";
    case ColumnGroup::kJsonOnly:
      return "In Google Benchmark's JSON only";
  }
  return "?";
}

void MarkdownTableHead(std::ostringstream& out) {
  out << "| column | meaning | unit | direction |\n"
      << "| --- | --- | --- | --- |\n";
}

// One "#### Group" per group, in CSV order; within a group one table per
// section, in order of the section's first column.
std::string Markdown() {
  std::ostringstream out;
  std::vector<std::pair<ColumnGroup, const Section*>> tables;
  for (const Column& c : kColumns) {
    const std::pair<ColumnGroup, const Section*> key{c.group, c.section};
    if (std::find(tables.begin(), tables.end(), key) == tables.end()) {
      tables.push_back(key);
    }
  }
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const auto [group, section] = tables[i];
    if (i == 0 || tables[i - 1].first != group) {
      out << (i == 0 ? "" : "\n") << "#### " << GroupTitle(group) << "\n";
    }
    if (!section->title.empty()) {
      out << "\n**" << section->title << "**";
      if (!section->note.empty()) out << " " << section->note;
      out << "\n";
    }
    out << "\n";
    MarkdownTableHead(out);
    for (const Column& c : kColumns) {
      if (c.group != group || c.section != section) continue;
      out << "| " << Code(c.name) << " | " << c.help << " | " << c.unit << " | "
          << Direction(c) << " |\n";
    }
  }
  return out.str();
}

std::string Json() {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Column& c : kColumns) {
    rows.push_back({{"name", c.name},
                    {"group", ToString(c.group)},
                    {"section", c.section->title},
                    {"unit", c.unit},
                    {"compare", ToString(c.compare)},
                    {"default_compared", c.default_compared},
                    {"help", c.help}});
  }
  return rows.dump(2) + "\n";
}

std::string Text() {
  std::ostringstream out;
  for (const Column& c : kColumns) {
    out << c.name << "  [" << ToString(c.group) << "; " << c.unit << "; "
        << Direction(c) << "]\n    " << c.help << "\n";
  }
  return out.str();
}

}  // namespace

std::span<const Column> Columns() { return kColumns; }

std::vector<std::string> ColumnNames(ColumnGroup group) {
  std::vector<std::string> names;
  for (const Column& c : kColumns) {
    if (c.group == group) names.emplace_back(c.name);
  }
  return names;
}

bool IsKnownCounter(std::string_view name) {
  for (const Column& c : kColumns) {
    if (c.from_counter() && c.name == name) return true;
  }
  return false;
}

std::string ListColumns(std::string_view format) {
  if (format == "json") return Json();
  if (format == "markdown") return Markdown();
  return Text();
}

std::string_view ToString(ColumnGroup group) {
  switch (group) {
    case ColumnGroup::kIdentity:
      return "identity";
    case ColumnGroup::kSetting:
      return "setting";
    case ColumnGroup::kCounter:
      return "counter";
    case ColumnGroup::kTime:
      return "time";
    case ColumnGroup::kContext:
      return "context";
    case ColumnGroup::kJsonOnly:
      return "json_only";
  }
  return "?";
}

std::string_view ToString(Compare compare) {
  switch (compare) {
    case Compare::kNone:
      return "";
    case Compare::kHigher:
      return "higher";
    case Compare::kLower:
      return "lower";
    case Compare::kBehaviour:
      return "behaviour";
  }
  return "?";
}

}  // namespace twbench
