// The premise of the MPI mode's tests (tests/mpi_netns_test.sh): a thread of
// each rank enters the rank's named network namespace and makes sockets
// there, while MPI calls on the main thread keep working in the namespace
// mpirun started in. Rank 0 listens on SERVER_ADDR, ranks 1..K connect and
// send their rank. Usage: mpi_netns_probe NETNS_PATTERN SERVER_ADDR (%r in
// the pattern: the rank). Exit 0 on every rank when every check held.
#include <arpa/inet.h>
#include <fcntl.h>
#include <mpi.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>

namespace {

constexpr int kPort = 5002;
constexpr timeval kTimeout{10, 0};  // every accept and connect is bounded

std::string NetnsOfThisThread() {
  char link[64] = {};
  ssize_t n = readlink("/proc/thread-self/ns/net", link, sizeof link - 1);
  return n > 0 ? std::string(link, static_cast<size_t>(n)) : "?";
}

bool Fail(int rank, const char* call) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, call, std::strerror(errno));
  return false;
}

bool EnterNetns(int rank, const std::string& pattern) {
  std::string path = pattern;
  if (size_t at = path.find("%r"); at != std::string::npos) {
    path.replace(at, 2, std::to_string(rank));
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(rank, path.c_str());
  bool ok = setns(fd, CLONE_NEWNET) == 0 || Fail(rank, "setns");
  close(fd);
  return ok;
}

sockaddr_in Server(const char* addr) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(kPort);
  inet_pton(AF_INET, addr, &sin.sin_addr);
  return sin;
}

// Rank 0's loop thread: listens (then says so through ready), accepts one
// connection per client and sums the ranks they send.
int Serve(int clients, const sockaddr_in& sin, std::promise<bool>& ready) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &kTimeout, sizeof kTimeout);
  bool listening =
      bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0 &&
      listen(fd, 64) == 0;
  ready.set_value(listening || Fail(0, "bind/listen"));
  int sum = 0;
  for (int i = 0; listening && i < clients; ++i) {
    int conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return Fail(0, "accept"), -1;
    unsigned char rank = 0;
    if (read(conn, &rank, 1) == 1) sum += rank;
    close(conn);
  }
  close(fd);
  return sum;
}

bool Connect(int rank, const sockaddr_in& sin) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &kTimeout, sizeof kTimeout);
  auto byte = static_cast<unsigned char>(rank);
  bool ok =
      (connect(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0 ||
       Fail(rank, "connect")) &&
      (write(fd, &byte, 1) == 1 || Fail(rank, "write"));
  close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0, rank = 0, size = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 3) {
    if (rank == 0)
      std::fprintf(stderr, "usage: %s NETNS_PATTERN SERVER_ADDR\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const std::string main_netns = NetnsOfThisThread();
  const sockaddr_in sin = Server(argv[2]);
  std::string loop_netns;
  int ok = 1, sum = 0;
  std::promise<bool> ready;
  std::thread loop([&] {
    if (!EnterNetns(rank, argv[1])) {
      ok = 0;
      if (rank == 0) ready.set_value(false);
      return;
    }
    loop_netns = NetnsOfThisThread();
    if (rank == 0) sum = Serve(size - 1, sin, ready);
  });
  // Clients connect only once rank 0 listens: an MPI barrier after it said so.
  if (rank == 0 && !ready.get_future().get()) ok = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  loop.join();
  if (rank != 0 && ok) {
    std::thread client(
        [&] { ok = EnterNetns(rank, argv[1]) && Connect(rank, sin); });
    client.join();
  }
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  const bool moved = !loop_netns.empty() && loop_netns != main_netns &&
                     NetnsOfThisThread() == main_netns;
  std::printf("rank %d: main thread %s, loop thread %s: %s\n", rank,
              main_netns.c_str(), loop_netns.c_str(),
              moved ? "apart" : "NOT apart");
  int want = size * (size - 1) / 2;
  if (rank == 0)
    std::printf("rank 0: received ranks summing to %d of %d\n", sum, want);
  MPI_Finalize();
  return all_ok && moved && (rank != 0 || sum == want) ? 0 : 1;
}
