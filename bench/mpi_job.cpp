// The MPI job (bench/mpi_job.h). Only the main thread calls MPI.
#include "mpi_job.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string_view>
#include <thread>

#include "stop_signal.h"

#if TWBENCH_HAVE_MPI
#include <mpi.h>
#endif

namespace twbench::mpi {

bool LaunchedByMpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

#if TWBENCH_HAVE_MPI
namespace {

// FNV-1a: the same value for the same bytes on every host and build, which
// std::hash does not promise.
std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// argv as flag name -> hash of its value ("--x=v" and "--x v" alike; a flag
// given twice keeps its values in order).
std::map<std::string, std::uint64_t> FlagHashes(
    const std::vector<std::string>& args) {
  std::map<std::string, std::string> values;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a, value;
    if (const auto eq = a.find('='); a.rfind("-", 0) == 0 && eq != a.npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (a.rfind("-", 0) == 0 && i + 1 < args.size() &&
               args[i + 1].rfind("-", 0) != 0) {
      value = args[++i];
    }
    std::string& all = values[name];
    if (!all.empty()) all += '\0';
    all += value;
  }
  std::map<std::string, std::uint64_t> hashes;
  for (const auto& [name, value] : values) hashes[name] = Fnv1a(value);
  return hashes;
}

std::string Serialize(const std::map<std::string, std::uint64_t>& hashes) {
  std::ostringstream out;
  for (const auto& [name, hash] : hashes) out << name << '\t' << hash << '\n';
  return out.str();
}

std::map<std::string, std::uint64_t> Deserialize(const std::string& text) {
  std::map<std::string, std::uint64_t> hashes;
  std::istringstream in(text);
  std::string name;
  std::uint64_t hash = 0;
  while (std::getline(in, name, '\t') && in >> hash) {
    hashes[name] = hash;
    in.ignore(1);  // the newline
  }
  return hashes;
}

// The flags whose values differ from rank 0's, or that only one side has.
std::string Differences(const std::map<std::string, std::uint64_t>& root,
                        const std::map<std::string, std::uint64_t>& mine) {
  std::string out;
  auto add = [&out](const std::string& name) {
    out += (out.empty() ? "" : ", ") + name;
  };
  for (const auto& [name, hash] : root) {
    auto it = mine.find(name);
    if (it == mine.end() || it->second != hash) add(name);
  }
  for (const auto& [name, hash] : mine) {
    if (!root.contains(name)) add(name);
  }
  return out;
}

// Where each rank's bytes start in a gathered buffer.
std::vector<int> Offsets(const std::vector<int>& lengths) {
  std::vector<int> offsets(lengths.size(), 0);
  for (std::size_t i = 1; i < lengths.size(); ++i) {
    offsets[i] = offsets[i - 1] + lengths[i - 1];
  }
  return offsets;
}

std::optional<std::vector<Role>> ParseRoles(const std::string& flag, int size,
                                            std::string* why) {
  std::vector<Role> roles;
  if (flag.empty()) {
    roles.assign(static_cast<std::size_t>(size), Role::kClient);
    roles[0] = Role::kServer;
  } else {
    std::istringstream in(flag);
    for (std::string r; std::getline(in, r, ',');) {
      if (r != "server" && r != "client") {
        *why = "--roles=" + flag + ": '" + r + "' is neither server nor client";
        return std::nullopt;
      }
      roles.push_back(r == "server" ? Role::kServer : Role::kClient);
    }
  }
  if (static_cast<int>(roles.size()) != size) {
    *why = "--roles=" + flag + " names " + std::to_string(roles.size()) +
           " ranks; the job has " + std::to_string(size);
    return std::nullopt;
  }
  int servers = 0;
  for (Role r : roles) servers += r == Role::kServer ? 1 : 0;
  if (servers != 1 || size < 2) {
    *why =
        "--roles: a job has one server rank and at least one client rank "
        "(it has " +
        std::to_string(servers) + " server ranks of " + std::to_string(size) +
        ")";
    return std::nullopt;
  }
  return roles;
}

}  // namespace

bool Built() { return true; }

// Every rank gets the signal (mpirun passes Ctrl-C on as SIGTERM to all),
// and ranks other than 0 end at once: no collective can finish after it.
bool Interrupted() { return StopSignal() != 0; }

std::optional<Job> Join(std::string* why) {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  Job job;
  MPI_Comm_rank(MPI_COMM_WORLD, &job.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &job.size);
  if (provided < MPI_THREAD_FUNNELED) {
    *why = "the MPI library gives no MPI_THREAD_FUNNELED";
    return std::nullopt;
  }
  return job;
}

bool AssignRoles(Job* job, const std::string& roles_flag, std::string* why) {
  std::optional<std::vector<Role>> roles =
      ParseRoles(roles_flag, job->size, why);
  if (!roles) return false;
  job->roles = std::move(*roles);
  return true;
}

// After an interrupted wait the other ranks are gone: MPI_Finalize would
// wait for them.
void Leave() {
  if (!Interrupted()) MPI_Finalize();
}

void AbortJob(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
  std::exit(status);  // not reached: MPI_Abort ends the process
}

std::string CheckFlagsAgree(const Job& job,
                            const std::vector<std::string>& args) {
  const std::map<std::string, std::uint64_t> mine = FlagHashes(args);
  std::string root = job.rank == 0 ? Serialize(mine) : std::string();
  int size = static_cast<int>(root.size());
  MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD);
  root.resize(static_cast<std::size_t>(size));
  MPI_Bcast(root.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD);
  const std::string differ = Differences(Deserialize(root), mine);
  // Every rank learns every rank's differences, so all can say the same.
  const int length = static_cast<int>(differ.size());
  std::vector<int> lengths(static_cast<std::size_t>(job.size));
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT,
                MPI_COMM_WORLD);
  const std::vector<int> offsets = Offsets(lengths);
  std::string all(static_cast<std::size_t>(
                      offsets.empty() ? 0 : offsets.back() + lengths.back()),
                  '\0');
  MPI_Allgatherv(differ.data(), length, MPI_CHAR, all.data(), lengths.data(),
                 offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
  std::string message;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] == 0) continue;
    message += (message.empty() ? "" : "; ") + std::string("rank ") +
               std::to_string(i) + " differs from rank 0 in " +
               all.substr(static_cast<std::size_t>(offsets[i]),
                          static_cast<std::size_t>(lengths[i]));
  }
  if (message.empty()) return "";
  return "the ranks of the job were started with different flags (every "
         "rank must run the same benchmarks): " +
         message;
}

bool AllAgree(bool mine) {
  int ok = mine ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return ok != 0;
}

int Largest(int mine) {
  MPI_Allreduce(MPI_IN_PLACE, &mine, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return mine;
}

bool SameOnEveryRank(std::string_view value) {
  const std::uint64_t h = Fnv1a(value);
  std::uint64_t range[2] = {h, ~h};  // the min of both: min and max of h
  MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  return range[0] == ~range[1];
}

namespace {

// false: a stop signal came first (the request is left pending: the job
// is ending, and nothing waits for it any more).
bool WaitFor(const Wait& wait, MPI_Request* request, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  const auto bound = std::chrono::duration<double>(wait.deadline_s);
  for (int done = 0;;) {
    MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    if (Interrupted()) return false;
    if (std::chrono::steady_clock::now() - start > bound) {
      std::cerr << "twbench: rank " << wait.job.rank << " waited "
                << wait.deadline_s << " s for the other ranks (" << what
                << "): a rank is stuck or gone; ending the job\n";
      AbortJob(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

bool Barrier(const Wait& wait, const char* what) {
  if (Interrupted()) return false;
  MPI_Request r;
  MPI_Ibarrier(MPI_COMM_WORLD, &r);
  return WaitFor(wait, &r, what);
}

std::optional<std::string> Bcast(const Wait& wait, int root, std::string bytes,
                                 const char* what) {
  if (Interrupted()) return std::nullopt;
  std::uint64_t size = bytes.size();
  MPI_Request r;
  MPI_Ibcast(&size, 1, MPI_UINT64_T, root, MPI_COMM_WORLD, &r);
  if (!WaitFor(wait, &r, what)) return std::nullopt;
  bytes.resize(size);
  MPI_Ibcast(bytes.data(), static_cast<int>(size), MPI_CHAR, root,
             MPI_COMM_WORLD, &r);
  if (!WaitFor(wait, &r, what)) return std::nullopt;
  return bytes;
}

std::optional<std::uint64_t> ReduceSum(const Wait& wait, int root,
                                       std::uint64_t mine, const char* what) {
  if (Interrupted()) return std::nullopt;
  std::uint64_t sum = 0;
  MPI_Request r;
  MPI_Ireduce(&mine, &sum, 1, MPI_UINT64_T, MPI_SUM, root, MPI_COMM_WORLD, &r);
  if (!WaitFor(wait, &r, what)) return std::nullopt;
  return wait.job.rank == root ? sum : 0;
}

std::optional<std::vector<std::string>> Gather(const Wait& wait, int root,
                                               const std::string& mine,
                                               const char* what) {
  if (Interrupted()) return std::nullopt;
  const bool at_root = wait.job.rank == root;
  const auto n = static_cast<std::size_t>(wait.job.size);
  int length = static_cast<int>(mine.size());
  std::vector<int> lengths(at_root ? n : 0);
  MPI_Request r;
  MPI_Igather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root,
              MPI_COMM_WORLD, &r);
  if (!WaitFor(wait, &r, what)) return std::nullopt;
  const std::vector<int> offsets = Offsets(lengths);
  std::string all(static_cast<std::size_t>(
                      offsets.empty() ? 0 : offsets.back() + lengths.back()),
                  '\0');
  MPI_Igatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(),
               offsets.data(), MPI_CHAR, root, MPI_COMM_WORLD, &r);
  if (!WaitFor(wait, &r, what)) return std::nullopt;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    out.push_back(all.substr(static_cast<std::size_t>(offsets[i]),
                             static_cast<std::size_t>(lengths[i])));
  }
  return out;
}

#else  // a build without MPI

bool Built() { return false; }

std::optional<Job> Join(std::string* why) {
  *why =
      "this twbench was built without MPI (install libopenmpi-dev and "
      "build again)";
  return std::nullopt;
}

bool AssignRoles(Job*, const std::string&, std::string*) { return false; }

void Leave() {}

void AbortJob(int status) { std::exit(status); }

std::string CheckFlagsAgree(const Job&, const std::vector<std::string>&) {
  return "";
}

// Never called: without MPI there is no job.
bool AllAgree(bool mine) { return mine; }
int Largest(int mine) { return mine; }
bool SameOnEveryRank(std::string_view) { return true; }
bool Barrier(const Wait&, const char*) { return true; }
std::optional<std::string> Bcast(const Wait&, int, std::string bytes,
                                 const char*) {
  return bytes;
}
std::optional<std::uint64_t> ReduceSum(const Wait&, int, std::uint64_t mine,
                                       const char*) {
  return mine;
}
std::optional<std::vector<std::string>> Gather(const Wait&, int,
                                               const std::string& mine,
                                               const char*) {
  return std::vector<std::string>{mine};
}
bool Interrupted() { return false; }

#endif

}  // namespace twbench::mpi
