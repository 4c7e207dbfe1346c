// What one churn run measured: counts, failures by step and errno name,
// latency, and the ports the run used.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace twbench {

// The step of a connection's life at which a failure happened.
// kSetup: a loop's own setup (uv_loop_init, uv_async_init), e.g. EMFILE.
enum class Step { kConnect, kAccept, kRead, kWrite, kBind, kListen, kSetup };
inline constexpr int kStepCount = 7;
const char* ToString(Step step);

// Failures counted by step and by errno name ("EADDRINUSE", "ETIMEDOUT", ...).
class ErrorCounts {
 public:
  // `uv_err` is a libuv error code (negative errno, or UV_EOF).
  void Add(Step step, int uv_err, std::uint64_t n = 1);
  void AddNamed(Step step, const std::string& name, std::uint64_t n = 1);
  void Merge(const ErrorCounts& other);

  std::uint64_t Total() const;
  std::uint64_t AtStep(Step step) const;
  std::uint64_t ByName(const std::string& name) const;  // over all steps
  std::uint64_t At(Step step, const std::string& name) const;
  // Every (step, name) -> count, in a stable order.
  const std::array<std::map<std::string, std::uint64_t>, kStepCount>& table()
      const {
    return by_step_;
  }
  // "connect:ECONNREFUSED=3 read:ETIMEDOUT=1", or "" when there are none.
  std::string Summary() const;

 private:
  std::array<std::map<std::string, std::uint64_t>, kStepCount> by_step_;
};

// Log-linear histogram of durations in nanoseconds: 32 linear sub-buckets per
// power of two, so a percentile is within ~3% of the true value; the max is
// exact. No HDR histogram library is packaged by Debian for C/C++.
class LatencyHistogram {
 public:
  LatencyHistogram();
  void Record(std::uint64_t ns);
  void Merge(const LatencyHistogram& other);
  std::uint64_t count() const { return count_; }
  std::uint64_t max_ns() const { return max_; }
  std::uint64_t min_ns() const { return count_ ? min_ : 0; }
  double mean_ns() const { return count_ ? double(sum_) / double(count_) : 0; }
  // q in [0, 1]; 0 when empty.
  std::uint64_t Percentile(double q) const;

  // Its parts, to send it to another process (stats_wire.h).
  const std::vector<std::uint64_t>& buckets() const { return buckets_; }
  std::uint64_t sum_ns() const { return sum_; }
  // Rebuilds it from those parts (the count is the buckets' sum); false, and
  // unchanged, when they cannot be one: another bucket count than this
  // build's, or min above max with a count.
  bool Restore(std::vector<std::uint64_t> buckets, std::uint64_t sum_ns,
               std::uint64_t min_ns, std::uint64_t max_ns);

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = ~0ull;
  std::uint64_t max_ = 0;
};

// Result of binding a fresh socket to the listener's address right after the
// listener closed.
struct RebindResult {
  bool attempted = false;
  bool bound = false;  // bind() and listen() both succeeded
  Step failed_step = Step::kBind;
  int error = 0;  // libuv error code of the failure, 0 when bound
  // On failure: the sockets on the port by state, e.g. "TIME_WAIT=500".
  std::string blockers;
  // Before the bind: how long the server waited for the run's sockets on its
  // port to finish closing on the wire (none left in FIN_WAIT1/2, CLOSING,
  // LAST_ACK, CLOSE_WAIT; TIME_WAIT stays), at most 1 s, census polled
  // every 1 ms; wait_settled false when the bound struck or the census
  // failed.
  std::uint64_t wait_ns = 0;
  bool wait_settled = false;
};

// What a client loop measured; written by that loop only.
struct ClientStats {
  std::uint64_t attempted = 0;  // connections the client started
  std::uint64_t completed = 0;  // connections that ended as the closer meant
  std::uint64_t connected = 0;  // connections the client saw established
  // closer=rst: connections the client saw end with ECONNRESET (expected,
  // counted in `completed`, not in `errors`).
  std::uint64_t resets = 0;
  // Connections still in flight when the run's time limit struck.
  std::uint64_t unfinished = 0;
  double seconds = 0;  // wall time of the churn, first connect to last close
  bool hit_time_limit = false;
  ErrorCounts errors;
  LatencyHistogram latency;  // connect start to close, completed only
  // Distinct local endpoints (source address and port) the established
  // connections had; with one source address, distinct ports.
  std::uint64_t client_ports_distinct = 0;
  // Connections established on a 4-tuple an earlier connection of the run had
  // used (one server address and port: a source address and port seen
  // before, by any client loop). When the server closed first, the new SYN
  // took that TIME_WAIT over (docs/time-wait-ledger.md).
  std::uint64_t tuple_reuses = 0;
  // The local ports seen, one set per source address (Scenario::client_addrs
  // of them); a merge joins them, so reuses across loops count too.
  std::vector<std::bitset<65536>> ports_seen;
  // CPU time of the loop's thread (getrusage(RUSAGE_THREAD) at its end).
  std::uint64_t cpu_user_ns = 0;
  std::uint64_t cpu_sys_ns = 0;
  // Client port binding and port exhaustion. A client bind() failure is
  // also in `errors` at Step::kBind.
  std::uint64_t client_bind_failures = 0;
  std::uint64_t client_bind_eaddrinuse = 0;  // of those, EADDRINUSE
  // Seconds from the churn's start to the first connection attempt that
  // failed before it was established (client bind() or connect(), any
  // errno); unset when none failed.
  std::optional<double> first_connect_failure_s;
  // Connections completed before that first failure (all when none failed).
  std::uint64_t completed_before_failure = 0;
  // SO_REUSEADDR read back from the first connected client socket (-1: none
  // connected or not readable): what the kernel has, not what was asked.
  int client_reuseaddr = -1;

  // Adds another loop's counts: sums, the longer time, the earlier failure,
  // the ports seen joined (distinct and reused recounted over both).
  void Merge(const ClientStats& other);
  // Adds another host's counts (an MPI job's client rank): as Merge, but
  // its ports_seen are other source addresses, appended, never joined with
  // these; distinct ports and tuple reuses add up.
  void MergeOtherHost(const ClientStats& other);
  // Source addresses at least one established connection had.
  std::uint64_t addrs_used() const;
};

// What a server loop measured; written by that loop only.
struct ServerStats {
  std::uint64_t accepted = 0;  // connections the server accepted
  // Server connections still open 1 s after the client finished, closed by
  // the server then (their peer had not closed).
  std::uint64_t server_forced_closes = 0;
  // accept, listener restarts and the rebind, by step and errno name.
  ErrorCounts errors;
  // SO_REUSEADDR / SO_REUSEPORT read back with getsockopt from the live
  // listener after libuv took it over (-1: could not be read).
  int listener_reuseaddr = -1;
  int listener_reuseport = -1;
  RebindResult rebind;
  // Listener restarts (Scenario::restart_every); their failed
  // bind()/listen() are in `errors` at Step::kBind / Step::kListen.
  std::uint64_t restarts = 0;         // restarts listening again
  std::uint64_t restarts_failed = 0;  // gave up at the bound, or cut by the
                                      // end of the run while retrying;
                                      // overlap: the one bind failed (the
                                      // old listener served on)
  // Close of the old listener to listen() of the new one, completed only
  // (overlap: 0, the new one listens before the old one closes).
  LatencyHistogram restart_downtime;
  // Time the server had no listener during the churn: the completed
  // restarts' downtime plus a failed restart's until the client finished.
  // Several loops: per loop here; RunChurn puts the time no loop had a
  // listener in the merged stats (RestartGroup).
  std::uint64_t server_down_ns = 0;
  // Connections in a listener's accept queue when a restart closed it
  // (TCP_INFO tcpi_unacked): the kernel resets them.
  std::uint64_t accept_queue_lost = 0;
  // SO_REUSEADDR read back from the last listener a restart made (-1: none).
  int restart_reuseaddr = -1;
  // Times the server paused accepting for lack of fds (docs/engine-limits.md).
  std::uint64_t accept_pauses = 0;
  // The end-of-run drain hit its 1 s bound with the listener still open,
  // waiting for accepts that did not come.
  bool drain_waited_for_accepts = false;
  // CPU time of the loop's thread (getrusage(RUSAGE_THREAD) at its end).
  std::uint64_t cpu_user_ns = 0;
  std::uint64_t cpu_sys_ns = 0;

  // Adds another loop's counts; the first rebind attempted and the first
  // option read back stand for all.
  void Merge(const ServerStats& other);
};

// A run: each part filled by its own loop(s), the figures derived from both
// computed here.
struct ChurnStats {
  // Apart by a cache line: the two loops write them from two cores.
  alignas(64) ClientStats client;
  alignas(64) ServerStats server;
  std::uint16_t server_port = 0;
  // Accepts of each server loop, in loop order (Scenario::loops entries).
  std::vector<std::uint64_t> accepted_per_loop;
  // Non-empty when the run could not go on (e.g. the listener setup failed,
  // or a loop's setup ran out of file descriptors: "server loop setup:
  // uv_loop_init: EMFILE", also counted in that side's errors at
  // Step::kSetup).
  std::string fatal;

  // Both sides' failures.
  ErrorCounts errors() const;
  // Connections the client saw established that the server never accepted,
  // restarts' lost accept queues aside: connected - accepted -
  // accept_queue_lost, floored at 0 (docs/engine-limits.md).
  std::uint64_t not_accepted() const;
  // The fewest and the most accepts of one server loop, as a share of all
  // (1/loops each when even; 1 with one loop; 0 when nothing was accepted).
  double accept_share_min() const;
  double accept_share_max() const;
  // The loop threads' CPU time, server and client, in seconds.
  double cpu_user_s() const;
  double cpu_sys_s() const;
};

}  // namespace twbench
