// Fresh network namespaces against the real kernel: a new namespace per run,
// lo up with both loopback addresses, sockets and TIME_WAIT kept inside, no
// fd left behind, and a clear reason when the privilege is missing.
#include "twbench/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "netns_skip.h"
#include "tw_resets.h"
#include "twbench/churn.h"
#include "twbench/listener.h"
#include "twbench/socket_census.h"
#include "twbench/topology.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {

using test::InFreshNetns;

[[noreturn]] void Die(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

std::string ReadLink(const std::string& path) {
  std::array<char, 256> buf{};
  const ssize_t n = readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return "";
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

// Entries of a /proc directory, "." and ".." left out.
std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) Die("opendir(" + path + ")");
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

std::size_t CountOpenFds() {
  // opendir's own fd is one of them, the same in every count.
  return ListDir("/proc/self/fd").size();
}

// Every namespace any thread or fd of this process refers to.
std::set<std::string> NamespacesHeld() {
  std::set<std::string> held;
  for (const std::string& tid : ListDir("/proc/self/task")) {
    held.insert(ReadLink("/proc/self/task/" + tid + "/ns/net"));
  }
  for (const std::string& fd : ListDir("/proc/self/fd")) {
    const std::string target = ReadLink("/proc/self/fd/" + fd);
    if (target.rfind("net:[", 0) == 0) held.insert(target);
  }
  return held;
}

sockaddr_storage Loopback(int family, std::uint16_t port, socklen_t* len) {
  sockaddr_storage storage{};
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&storage, &sin, sizeof(sin));
    *len = sizeof(sin);
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    sin6.sin6_addr = in6addr_loopback;
    std::memcpy(&storage, &sin6, sizeof(sin6));
    *len = sizeof(sin6);
  }
  return storage;
}

std::uint16_t LocalPort(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) < 0) {
    Die("getsockname");
  }
  // sin_port and sin6_port sit at the same offset.
  sockaddr_in sin{};
  std::memcpy(&sin, &storage, sizeof(sin));
  return ntohs(sin.sin_port);
}

struct Flow {
  UniqueFd listener;
  UniqueFd client;
  UniqueFd server;
  std::uint16_t server_port = 0;
  std::uint16_t client_port = 0;
};

// A listener on the loopback address of `family` and one connection to it.
Flow OpenFlow(int family) {
  Flow flow;
  flow.listener = UniqueFd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!flow.listener) Die("socket");
  socklen_t len = 0;
  sockaddr_storage addr = Loopback(family, 0, &len);
  if (bind(flow.listener.get(), reinterpret_cast<const sockaddr*>(&addr), len) <
      0) {
    Die("bind");
  }
  if (listen(flow.listener.get(), 8) < 0) Die("listen");
  flow.server_port = LocalPort(flow.listener.get());
  addr = Loopback(family, flow.server_port, &len);
  flow.client = UniqueFd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!flow.client) Die("socket");
  if (connect(flow.client.get(), reinterpret_cast<const sockaddr*>(&addr),
              len) < 0) {
    Die("connect");
  }
  flow.server =
      UniqueFd(accept4(flow.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!flow.server) Die("accept4");
  flow.client_port = LocalPort(flow.client.get());
  return flow;
}

// The server closes first; the client reads the FIN (recv returns 0, bounded
// by SO_RCVTIMEO) before closing, so the close is not simultaneous and the
// server alone ends in TIME_WAIT.
void ServerCloses(Flow& flow) {
  flow.server.reset();
  const timeval timeout{2, 0};
  if (setsockopt(flow.client.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout)) < 0) {
    Die("setsockopt(SO_RCVTIMEO)");
  }
  char byte = 0;
  if (recv(flow.client.get(), &byte, 1, 0) != 0) Die("recv (FIN expected)");
  flow.client.reset();
}

std::uint64_t TimeWaitOf(const Flow& flow) {
  CensusQuery query;
  query.states = StateBit(TcpState::kTimeWait);
  query.local_port = flow.server_port;
  query.remote_port = flow.client_port;
  return CountTcpSockets(query).time_wait();
}

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST(NetnsTest, CurrentNetnsIdNamesANetworkNamespace) {
  const std::string id = CurrentNetnsId();
  EXPECT_EQ(id.rfind("net:[", 0), 0u) << id;
  EXPECT_EQ(id.back(), ']');
  EXPECT_EQ(id, ReadLink("/proc/self/ns/net"));  // the main thread here
}

TEST(NetnsTest, FreshNamespaceDiffersFromHost) {
  SKIP_WITHOUT_NETNS();
  const std::string host = CurrentNetnsId();
  std::string inside;
  std::string main_thread_seen_inside;
  InFreshNetns([&] {
    inside = CurrentNetnsId();
    // /proc/self is the thread group leader: still the host's namespace.
    main_thread_seen_inside = ReadLink("/proc/self/ns/net");
  });
  EXPECT_EQ(inside.rfind("net:[", 0), 0u) << inside;
  EXPECT_NE(inside, host);
  EXPECT_EQ(main_thread_seen_inside, host);
  EXPECT_EQ(CurrentNetnsId(), host);
}

TEST(NetnsTest, CreateAndEnterOwnsTheNamespaceItEntered) {
  SKIP_WITHOUT_NETNS();
  std::thread worker([] {
    std::string why;
    const std::string before = CurrentNetnsId();
    NetNamespace ns = NetNamespace::CreateAndEnter(&why);
    ASSERT_TRUE(ns.valid()) << why;
    EXPECT_TRUE(ns.ipv6());
    EXPECT_EQ(ns.id(), CurrentNetnsId());
    EXPECT_NE(ns.id(), before);
    NetNamespace moved = std::move(ns);
    EXPECT_FALSE(ns.valid());  // NOLINT(bugprone-use-after-move): moved-from
    EXPECT_EQ(ns.id(), "");
    EXPECT_EQ(moved.id(), CurrentNetnsId());
  });
  worker.join();
}

TEST(NetnsTest, LoopbackIsUpAndAcceptsIpv4AndIpv6) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    // The flags read through the ioctl: a check independent of how lo was
    // brought up (rtnetlink).
    const UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid()) << std::strerror(errno);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ASSERT_EQ(ioctl(fd.get(), SIOCGIFFLAGS, &ifr), 0) << std::strerror(errno);
    EXPECT_TRUE(ifr.ifr_flags & IFF_UP);
    EXPECT_TRUE(ifr.ifr_flags & IFF_LOOPBACK);
    for (const int family : {AF_INET, AF_INET6}) {
      SCOPED_TRACE(family == AF_INET ? "127.0.0.1" : "::1");
      Flow flow = OpenFlow(family);
      const char byte = 'x';
      ASSERT_EQ(send(flow.client.get(), &byte, 1, 0), 1);
      char got = 0;
      ASSERT_EQ(recv(flow.server.get(), &got, 1, 0), 1);
      EXPECT_EQ(got, 'x');
    }
  });
}

TEST(NetnsTest, ThreadsStartedInsideInheritTheNamespace) {
  SKIP_WITHOUT_NETNS();
  InFreshNetns([] {
    const std::string inside = CurrentNetnsId();
    std::string child;
    std::thread([&] { child = CurrentNetnsId(); }).join();
    EXPECT_EQ(child, inside);
  });
}

TEST(NetnsTest, TimeWaitInsideIsNotSeenFromTheHost) {
  SKIP_WITHOUT_NETNS();
  std::string why;
  const NetNamespace host = NetNamespace::OfCallingThread(&why);
  ASSERT_TRUE(host.valid()) << why;
  InFreshNetns([&] {
    Flow flow = OpenFlow(AF_INET);
    ServerCloses(flow);
    ASSERT_TRUE(WaitFor([&] { return TimeWaitOf(flow) == 1; }));
    // The same question asked from a thread that joined the host namespace.
    std::uint64_t seen_from_host = 99;
    std::string entered_id;
    std::thread([&] {
      std::string enter_why;
      if (!Enter(host, &enter_why)) {
        ADD_FAILURE() << enter_why;
        return;
      }
      entered_id = CurrentNetnsId();
      seen_from_host = TimeWaitOf(flow);
    }).join();
    EXPECT_EQ(entered_id, host.id());
    EXPECT_EQ(seen_from_host, 0u);
    EXPECT_EQ(TimeWaitOf(flow), 1u);  // still there inside
  });
}

TEST(NetnsTest, LeavesNoFdAndReleasesTheNamespace) {
  SKIP_WITHOUT_NETNS();
  const std::string host = CurrentNetnsId();
  const std::size_t fds_before = CountOpenFds();
  std::string inside;
  InFreshNetns([&] {
    inside = CurrentNetnsId();
    Flow flow = OpenFlow(AF_INET6);
    ServerCloses(flow);
  });
  EXPECT_EQ(CountOpenFds(), fds_before);
  EXPECT_EQ(CurrentNetnsId(), host);
  EXPECT_EQ(ReadLink("/proc/self/ns/net"), host);
  // No thread and no fd of ours refers to it any more, so the kernel frees
  // it (and purges the TIME_WAIT socket made inside). pthread_join returns
  // when the kernel clears the thread's tid, which do_exit() does before it
  // drops the thread's namespaces, so /proc/self/task can still list the
  // exiting thread with the old namespace for a moment: wait, bounded.
  EXPECT_TRUE(WaitFor([&] { return NamespacesHeld().count(inside) == 0; }))
      << inside << " still held by a task or fd of this process";
}

// What the benchmark does per run, several times in one process: a churn
// and its census in a fresh namespace, and a churn over a veth pair between
// two. Afterwards no fd is left open and no namespace is held.
TEST(NetnsTest, ChurnRunsLeaveNoFdAndNoNamespace) {
  SKIP_WITHOUT_NETNS();
  const std::string host = CurrentNetnsId();
  // The first uv_loop_init of a process opens libuv's signal lock pipe (two
  // fds) for good: open it before counting.
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  const std::size_t fds_before = CountOpenFds();
  Scenario s;
  s.closer = Closer::kServer;
  s.concurrency = 32;
  s.connections = 500;
  s.time_limit_s = 10;
  for (int run = 0; run < 3; ++run) {
    InFreshNetns([&] {
      const test::RstMark mark;
      const ChurnStats st = RunChurn(s);
      EXPECT_EQ(st.client.completed, s.connections) << st.errors().Summary();
      CensusQuery q;
      q.states = StateBit(TcpState::kTimeWait);
      q.local_port = st.server_port;
      // Measured in the run's own namespace: one per connection, but for
      // those an RST ended (tw_resets.h).
      const std::uint64_t held =
          CountTcpSocketsSettled(q, 2.0).counts.time_wait();
      EXPECT_LE(held, s.connections);
      EXPECT_GE(held + test::TimeWaitEndedSince(mark, st.client.tuple_reuses),
                s.connections)
          << held << " held";
    });
    std::string why;
    std::optional<VethTopology> veth = MakeVethTopology(&why);
    ASSERT_TRUE(veth.has_value()) << why;
    Placement placement{&veth->client,
                        &veth->server,
                        NumericAddress(Family::kIPv4, veth->server_ipv4, 0),
                        NumericAddress(Family::kIPv4, veth->client_ipv4, 0),
                        {}};
    const ChurnStats st = RunChurn(s, nullptr, placement);
    EXPECT_EQ(st.client.completed, s.connections) << st.errors().Summary();
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  EXPECT_TRUE(WaitFor([&] {
    const std::set<std::string> held = NamespacesHeld();
    return held.size() == 1 && *held.begin() == host;
  })) << "a namespace of the runs is still held by a task or fd";
}

TEST(NetnsTest, TwoRunsGetTwoNamespaces) {
  SKIP_WITHOUT_NETNS();
  std::string first;
  std::string second;
  InFreshNetns([&] { first = CurrentNetnsId(); });
  InFreshNetns([&] { second = CurrentNetnsId(); });
  EXPECT_NE(first, "");
  EXPECT_NE(first, second);
}

TEST(NetnsTest, ExceptionFromFnReachesTheCaller) {
  SKIP_WITHOUT_NETNS();
  EXPECT_THROW(RunInFreshNetns([] { throw std::runtime_error("from inside"); }),
               std::runtime_error);
}

TEST(NetnsTest, EnterRejectsAnInvalidOwner) {
  std::string why;
  EXPECT_FALSE(Enter(NetNamespace(), &why));
  EXPECT_NE(why.find("setns"), std::string::npos) << why;
}

// What an unprivileged process gets, found out in a child that dropped root
// (setresuid clears the capabilities): CreateAndEnter and RunInFreshNetns
// must fail with the reason and leave the thread where it was.
TEST(NetnsTest, UnprivilegedGetsAClearReason) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to drop to uid 65534 in a child";
  }
  std::array<int, 2> pipe_fds{};
  ASSERT_EQ(pipe2(pipe_fds.data(), O_CLOEXEC), 0) << std::strerror(errno);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    read_end.reset();
    // No gtest in the child: the outcome goes through the pipe and the exit
    // code.
    int code = 0;
    if (setgroups(0, nullptr) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0) {
      _exit(10);
    }
    const std::string before = CurrentNetnsId();
    std::string why;
    const NetNamespace ns = NetNamespace::CreateAndEnter(&why);
    if (ns.valid()) code |= 1;
    if (CurrentNetnsId() != before) code |= 2;
    const std::optional<std::string> run_why = RunInFreshNetns([] {});
    if (!run_why || *run_why != why) code |= 4;
    const std::string report = why + "\n";
    if (write(write_end.get(), report.data(), report.size()) !=
        static_cast<ssize_t>(report.size())) {
      code |= 8;
    }
    _exit(code);
  }
  write_end.reset();
  // Bounded: the child does a few syscalls; kill it if it hangs.
  int status = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "child did not finish in 10 s";
  }
  std::array<char, 512> buf{};
  const ssize_t n = read(read_end.get(), buf.data(), buf.size() - 1);
  const std::string reason =
      n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n) - 1) : "";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "bits: 1 namespace made, 2 thread moved, 4 RunInFreshNetns reason "
         "differs, 8 pipe, 10 could not drop root; reason: "
      << reason;
  EXPECT_EQ(reason,
            "unshare(CLONE_NEWNET): Operation not permitted - run as root "
            "or with CAP_SYS_ADMIN");
}

// --rank_netns: a path opens that namespace, a bare name one of `ip netns
// add` (/run/netns/NAME); a missing one says which file.
TEST(NetnsTest, OpenByPathOrName) {
  std::string why;
  NetNamespace here = NetNamespace::Open("/proc/thread-self/ns/net", &why);
  ASSERT_TRUE(here.valid()) << why;
  EXPECT_EQ(here.id(), CurrentNetnsId());
  NetNamespace none = NetNamespace::Open("twb_no_such_namespace", &why);
  EXPECT_FALSE(none.valid());
  EXPECT_NE(why.find("/run/netns/twb_no_such_namespace"), std::string::npos)
      << why;
}

}  // namespace
}  // namespace twbench
