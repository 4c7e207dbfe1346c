// The MPI job (bench/mpi_job.h). Only the main thread calls MPI.
#include "mpi_job.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string_view>

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

void Leave() { MPI_Finalize(); }

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
  std::vector<int> offsets(lengths.size(), 0);
  int total = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    offsets[i] = total;
    total += lengths[i];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
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

#endif

}  // namespace twbench::mpi
