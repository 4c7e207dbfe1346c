// An MPI job's view of this process (issue: across hosts): launched by
// mpirun or srun, every rank runs the same benchmark list in lockstep; rank
// 0 serves by default and the others are clients (--roles). Without MPI (a
// plain start, or a build without it) Join() says so and nothing changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twbench::mpi {

enum class Role { kServer, kClient };

struct Job {
  int rank = 0;
  int size = 1;
  std::vector<Role> roles;  // one per rank
  Role role() const { return roles[static_cast<std::size_t>(rank)]; }
};

// Whether this process was started by an MPI launcher (its environment
// says so: Open MPI's, PMIx's or PMI's rank variables).
bool LaunchedByMpi();
// Whether this build has the MPI mode (Open MPI found at configure time).
bool Built();

// Joins the job (MPI_Init_thread, funneled: only the main thread calls MPI;
// loop threads never do): rank and size; roles come after the flags agree.
// nullopt, with *why, when this build has no MPI.
std::optional<Job> Join(std::string* why);
// Reads the roles from the --roles flag ("" for rank 0 the server, the
// others clients; else server|client per rank, comma-separated); false,
// with *why, when they do not fit the job.
bool AssignRoles(Job* job, const std::string& roles_flag, std::string* why);
void Leave();
// Ends every rank of the job with `status` (MPI_Abort): for a failure one
// rank sees and the others would wait on forever.
[[noreturn]] void AbortJob(int status);

// The flags every rank was started with agree: rank 0 sends each flag's
// name and a hash of its value, every rank compares its own. "" when they
// agree on every rank; else, on every rank, a message naming the flags
// that differ and the ranks they differ on. `args`: argv[1..] as given.
std::string CheckFlagsAgree(const Job& job,
                            const std::vector<std::string>& args);

// Whether `mine` holds on every rank (every rank learns the same answer).
bool AllAgree(bool mine);
// The largest of every rank's `mine`, on every rank.
int Largest(int mine);
// Whether `value` is the same on every rank (compared by hash).
bool SameOnEveryRank(std::string_view value);

// The collectives of one run. While they wait the loop threads run, so each
// is nonblocking, polled with 1 ms sleeps (a blocked Open MPI call spins a
// CPU), and bounded: past `deadline_s` the job ends (AbortJob) with a
// message naming `what` and this rank. A stop signal (Ctrl-C: mpirun sends
// every rank SIGTERM, and ranks other than 0 end at once) ends the wait
// too: nullopt or false.
struct Wait {
  const Job& job;
  double deadline_s;
};
[[nodiscard]] bool Barrier(const Wait& wait, const char* what);
// `bytes` of `root`, on every rank.
std::optional<std::string> Bcast(const Wait& wait, int root, std::string bytes,
                                 const char* what);
// The sum of every rank's `mine` at `root` (0 elsewhere).
std::optional<std::uint64_t> ReduceSum(const Wait& wait, int root,
                                       std::uint64_t mine, const char* what);
// Every rank's bytes, in rank order, at `root` (empty elsewhere).
std::optional<std::vector<std::string>> Gather(const Wait& wait, int root,
                                               const std::string& mine,
                                               const char* what);
// A stop signal came: the other ranks are gone or going, so no collective
// can finish any more, MPI_Finalize's included. Rank 0 writes its rows and
// exits without them.
bool Interrupted();

}  // namespace twbench::mpi
