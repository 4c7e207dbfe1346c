#include "churn_client.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "accept_throttle.h"
#include "twbench/listener.h"
#include "twbench/unique_fd.h"

namespace twbench {
namespace {
constexpr std::uint64_t kSweepMs = 10;  // deadline check period
}  // namespace

Client::Client(const Scenario& s, ClientShare share, ClientStats* stats,
               sockaddr_storage server, sockaddr_storage local,
               const std::atomic<bool>* stop, ClientLive* live,
               const std::atomic<int>* server_fd_claims)
    : s_(s),
      share_(std::move(share)),
      stats_(stats),
      addr_(server),
      local_(local),
      next_source_(share_.first_source),
      deadline_(s.time_limit_s, s.connection_timeout_s, stop),
      live_(live),
      server_fd_claims_(server_fd_claims),
      slots_(static_cast<std::size_t>(share_.concurrency)),
      payload_(s.payload, 'x') {
  for (auto& slot : slots_) slot.client = this;
  // Sized before the run: noting a port allocates nothing.
  stats_->ports_seen.resize(std::max<std::size_t>(1, share_.sources.size()));
}

int Client::Init(const char** what) {
  *what = "uv_loop_init";
  if (int rc = InitLoop(&loop_); rc != 0) return rc;
  loop_ready_ = true;
  uv_timer_init(&loop_, &sweep_);
  sweep_.data = this;
  return 0;
}

void Client::Run() {
  deadline_.Start(NowNs());
  uv_timer_start(&sweep_, OnSweep, kSweepMs, kSweepMs);
  for (auto& slot : slots_) Start(&slot);
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (!stats_->first_connect_failure_s) {
    stats_->completed_before_failure = stats_->completed;
  }
}

void Client::Start(ClientConn* c) {
  if (deadline_.Stopping() || stats_->attempted >= share_.connections) {
    if (deadline_.Stopping()) stats_->hit_time_limit = true;
    GoIdle(c);
    return;
  }
  if (FdClaimed(server_fd_claims_)) {
    // The fds coming free are the server's now (accept_throttle.h): no
    // attempt, and the next sweep asks again.
    c->backoff = true;
    return;
  }
  ++stats_->attempted;
  Bump(live_->attempted);
  c->start_ns = NowNs();
  c->received = 0;
  c->backoff = false;
  c->phase = ClientConn::Phase::kConnecting;
  uv_tcp_init(&loop_, &c->tcp);
  c->tcp.data = c;
  c->connect_req.data = c;
  in_flight_.PushBack(c);
  Step step = Step::kConnect;
  if (int rc = Connect(c, &step); rc != 0) {
    // Out of fds or memory: wait a sweep instead of spinning on the same
    // failure. A bind() conflict moves on: the next attempt takes the next
    // port.
    c->backoff = ShouldBackOff(rc);
    Fail(c, step, rc);
  }
}

int Client::Connect(ClientConn* c, Step* step) {
  if (OwnSocket()) {
    if (int rc = OpenOwnSocket(c, step); rc != 0) return rc;
  }
  return uv_tcp_connect(&c->connect_req, &c->tcp,
                        reinterpret_cast<const sockaddr*>(&addr_), OnConnect);
}

// Whether the harness makes the client socket: uv_tcp_connect makes one
// with no options, and uv_tcp_bind would force SO_REUSEADDR on.
bool Client::OwnSocket() const {
  return s_.client_bind != ClientBind::kEphemeral || s_.client_reuseaddr ||
         !share_.sources.empty();
}

// socket -> setsockopt -> bind, then libuv takes the fd (uv_tcp_open).
// Returns 0 or a libuv error; *step says where it failed.
int Client::OpenOwnSocket(ClientConn* c, Step* step) {
  const int domain = s_.family == Family::kIPv4 ? AF_INET : AF_INET6;
  UniqueFd fd(socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return -errno;  // EMFILE: counted at connect, as libuv would
  // Set both ways: "off" must be off on the live socket.
  const int reuse = s_.client_reuseaddr ? 1 : 0;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)) !=
      0) {
    return -errno;
  }
  if (s_.client_bind != ClientBind::kEphemeral || !share_.sources.empty()) {
    *step = Step::kBind;
    if (int rc = BindLocal(c, fd.get()); rc != 0) return rc;
    *step = Step::kConnect;
  }
  if (int rc = uv_tcp_open(&c->tcp, fd.get()); rc != 0) return rc;
  fd.release();  // libuv owns it now
  return 0;
}

int Client::BindLocal(ClientConn* c, int fd) {
  sockaddr_storage local = local_;
  c->source = 0;
  if (!share_.sources.empty()) {
    // The next source address in turn (never with client_bind=range).
    c->source = static_cast<std::uint32_t>(next_source_);
    local = share_.sources[next_source_];
    next_source_ = (next_source_ + 1) % share_.sources.size();
  }
  if (s_.client_bind != ClientBind::kRange) {
    // Port 0 with this option: bind() takes the address only and connect()
    // picks a port free for the whole 4-tuple, as autobind does.
    const int on = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on)) !=
        0) {
      return -errno;
    }
    SetPort(local, 0);
  } else {
    SetPort(local, NextPort());
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local),
           AddressLength(s_.family)) != 0) {
    return -errno;
  }
  return 0;
}

// The next port of the client range, wrapping; a failed bind() used its port
// all the same, so a conflict is not retried on the same port.
std::uint16_t Client::NextPort() {
  const int span = s_.client_port_max - s_.client_port_min + 1;
  const int port = s_.client_port_min + next_port_;
  next_port_ = (next_port_ + 1) % span;
  return static_cast<std::uint16_t>(port);
}

void Client::OnConnect(uv_connect_t* req, int status) {
  auto* c = static_cast<ClientConn*>(req->data);
  c->client->Connected(c, status);
}

void Client::Connected(ClientConn* c, int status) {
  if (c->phase != ClientConn::Phase::kConnecting) return;  // cancelled
  if (status < 0) {
    ConnectFailed(c, status);
    return;
  }
  ++stats_->connected;
  NotePort(c);
  uv_os_fd_t fd;
  if (stats_->client_reuseaddr < 0 && uv_fileno(AsHandle(&c->tcp), &fd) == 0) {
    stats_->client_reuseaddr = GetIntSockopt(fd, SOL_SOCKET, SO_REUSEADDR);
  }
  if (s_.payload == 0 && s_.closer == Closer::kClient) {
    Complete(c);
    return;
  }
  if (int rc = uv_read_start(AsStream(&c->tcp), OnAlloc, OnRead); rc != 0) {
    Fail(c, Step::kRead, rc);
    return;
  }
  c->phase = ClientConn::Phase::kReading;
  if (s_.payload > 0) Send(c);
}

void Client::ConnectFailed(ClientConn* c, int status) {
  // An RST can beat the connect callback: the server accepted and aborted
  // before this loop saw the handshake finish.
  if (status == UV_ECONNRESET && s_.closer == Closer::kRst) {
    ++stats_->connected;
    ++stats_->resets;
    Complete(c);
    return;
  }
  // Refused: the server is down (a listener restart). Retry from the next
  // sweep, as a client with a retry delay does, rather than spend the
  // budget in a tight loop of refusals.
  c->backoff = status == UV_ECONNREFUSED;
  Fail(c, Step::kConnect, status);
}

void Client::Send(ClientConn* c) {
  // Every slot sends the same read-only bytes: no copy per connection.
  uv_buf_t b = uv_buf_init(payload_.data(), payload_.size());
  c->write_req.data = c;
  c->phase = ClientConn::Phase::kWriting;
  int rc = uv_write(&c->write_req, AsStream(&c->tcp), &b, 1, OnWrite);
  if (rc != 0) Fail(c, Step::kWrite, rc);
}

void Client::OnWrite(uv_write_t* req, int status) {
  auto* c = static_cast<ClientConn*>(req->data);
  if (status == UV_ECANCELED || c->phase == ClientConn::Phase::kClosing) {
    return;
  }
  if (status < 0) {
    c->client->Fail(c, Step::kWrite, status);
    return;
  }
  c->phase = ClientConn::Phase::kReading;
}

void Client::NotePort(ClientConn* c) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getsockname(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) ==
      0) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    const std::uint16_t port = ntohs(sin->sin_port);  // same in sockaddr_in6
    // One server address and port: the source address and port are the
    // 4-tuple.
    std::bitset<65536>& seen = stats_->ports_seen[c->source];
    if (seen.test(port)) {
      ++stats_->tuple_reuses;
    } else {
      ++stats_->client_ports_distinct;
    }
    seen.set(port);
  }
}

void Client::OnAlloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  Client* self = static_cast<ClientConn*>(h->data)->client;
  *buf = uv_buf_init(self->scratch_.get(), kScratchSize);
}

void Client::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<ClientConn*>(stream->data);
  c->client->Read(c, nread);
}

void Client::Read(ClientConn* c, ssize_t nread) {
  if (nread == 0 || c->phase == ClientConn::Phase::kClosing) return;
  if (nread < 0) {
    ReadEnded(c, nread);
    return;
  }
  c->received += static_cast<std::uint64_t>(nread);
  if (c->received >= s_.payload && s_.closer == Closer::kClient) Complete(c);
}

// EOF or an error: completed when the echo was whole and the closer's way of
// ending came; a failure otherwise.
void Client::ReadEnded(ClientConn* c, ssize_t nread) {
  const bool echoed = c->received >= s_.payload;
  if (nread == UV_EOF && echoed && s_.closer == Closer::kServer) {
    Complete(c);
  } else if (nread == UV_ECONNRESET && echoed && s_.closer == Closer::kRst) {
    ++stats_->resets;
    Complete(c);
  } else if (nread == UV_EOF && echoed && s_.closer == Closer::kRst) {
    Complete(c);  // the RST raced a FIN-less close; it ended all the same
  } else {
    Fail(c, Step::kRead, static_cast<int>(nread));
  }
}

void Client::Complete(ClientConn* c) {
  ++stats_->completed;
  Bump(live_->completed);
  stats_->latency.Record(NowNs() - c->start_ns);
  Close(c);
}

void Client::Fail(ClientConn* c, Step step, int uv_err) {
  stats_->errors.Add(step, uv_err);
  Bump(live_->errors);
  if (step == Step::kConnect) Bump(live_->connect_errors);
  if (step == Step::kBind) {
    ++stats_->client_bind_failures;
    if (uv_err == UV_EADDRINUSE) ++stats_->client_bind_eaddrinuse;
    Bump(live_->client_bind_failures);
  }
  if ((step == Step::kConnect || step == Step::kBind) &&
      !stats_->first_connect_failure_s) {
    // When the range ran dry: the exhaustion columns split the run here.
    stats_->first_connect_failure_s = deadline_.SecondsSinceStart(NowNs());
    stats_->completed_before_failure = stats_->completed;
  }
  Close(c);
}

void Client::Close(ClientConn* c) {
  if (c->phase == ClientConn::Phase::kClosing) return;
  c->phase = ClientConn::Phase::kClosing;
  in_flight_.Unlink(c);
  uv_close(AsHandle(&c->tcp), OnClosed);
}

// The churn is driven from here: a slot's next connection starts when its
// last one is fully closed.
void Client::OnClosed(uv_handle_t* h) {
  auto* c = static_cast<ClientConn*>(h->data);
  c->phase = ClientConn::Phase::kIdle;
  // In backoff the sweep restarts it.
  if (c->backoff && !c->client->deadline_.Stopping()) return;
  c->client->Start(c);
}

void Client::GoIdle(ClientConn* c) {
  c->phase = ClientConn::Phase::kIdle;
  c->backoff = false;
  if (++idle_ < slots_.size()) return;
  end_ns_ = NowNs();
  stats_->seconds = deadline_.SecondsSinceStart(end_ns_);
  uv_close(AsHandle(&sweep_), nullptr);
}

void Client::OnSweep(uv_timer_t* t) { static_cast<Client*>(t->data)->Sweep(); }

// The run's time limit, per-connection deadlines, slots in backoff.
void Client::Sweep() {
  const std::uint64_t now = NowNs();
  if (deadline_.StrikesNow(now)) CutInFlight();
  FailOverdue(now);
  for (auto& slot : slots_) {
    if (slot.backoff && slot.phase == ClientConn::Phase::kIdle) Start(&slot);
  }
}

void Client::CutInFlight() {
  stats_->hit_time_limit = true;
  stats_->unfinished += in_flight_.size;
  while (in_flight_.head != nullptr) Close(in_flight_.head);
}

// The in-flight list is in start order: only its head can be overdue first.
void Client::FailOverdue(std::uint64_t now) {
  while (in_flight_.head != nullptr &&
         deadline_.Overdue(in_flight_.head->start_ns, now)) {
    ClientConn* c = in_flight_.head;
    Fail(c,
         c->phase == ClientConn::Phase::kConnecting ? Step::kConnect
         : c->phase == ClientConn::Phase::kWriting  ? Step::kWrite
                                                    : Step::kRead,
         UV_ETIMEDOUT);
  }
}

}  // namespace twbench
