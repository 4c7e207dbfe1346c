#include "server_conns.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>

#include "twbench/run_clock.h"

namespace twbench {
namespace {

// Bytes sent but not yet acknowledged by the peer (SIOCOUTQ).
int Unacked(ServerConn* c) {
  uv_os_fd_t fd;
  int outq = 0;
  if (uv_fileno(AsHandle(&c->tcp), &fd) != 0 ||
      ioctl(fd, SIOCOUTQ, &outq) != 0) {
    return 0;
  }
  return outq;
}

}  // namespace

void ServerConns::Init(uv_loop_t* loop) {
  loop_ = loop;
  uv_timer_init(loop, &ack_poll_);
  ack_poll_.data = this;
}

void ServerConns::CloseTimers() { uv_close(AsHandle(&ack_poll_), nullptr); }

ServerConn* ServerConns::Accept(uv_stream_t* listener) {
  auto* c = new ServerConn;
  c->owner = this;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  open_.PushBack(c);
  if (int rc = uv_accept(listener, AsStream(&c->tcp)); rc != 0) {
    stats_->errors.Add(Step::kAccept, rc);
    Close(c, /*rst=*/false);
    return nullptr;
  }
  ++stats_->accepted;
  Bump(live_->accepted);
  return c;
}

void ServerConns::Serve(ServerConn* c) {
  // Nothing to echo: the server closer closes at once; a client closer is
  // awaited (EOF) so the server end closes second.
  if (s_.payload == 0 && s_.closer != Closer::kClient) {
    Close(c, s_.closer == Closer::kRst);
    return;
  }
  StartReading(c);
}

void ServerConns::StartReading(ServerConn* c) {
  if (int rc = uv_read_start(AsStream(&c->tcp), OnAlloc, OnRead); rc != 0) {
    stats_->errors.Add(Step::kRead, rc);
    Close(c, false);
  }
}

void ServerConns::OnAlloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<ServerConn*>(h->data)->owner;
  *buf = uv_buf_init(self->scratch_.get(), kScratchSize);
}

void ServerConns::OnRead(uv_stream_t* stream, ssize_t nread,
                         const uv_buf_t* buf) {
  auto* c = static_cast<ServerConn*>(stream->data);
  c->owner->Read(c, nread, buf);
}

void ServerConns::Read(ServerConn* c, ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0 || c->closing) return;
  if (nread == UV_EOF) {
    Close(c, false);  // the client closed first (or gave up)
    return;
  }
  if (nread < 0) {
    stats_->errors.Add(Step::kRead, static_cast<int>(nread));
    Close(c, false);
    return;
  }
  Echo(c, buf->base, static_cast<std::size_t>(nread));
}

// uv_try_write first (loopback send buffers take it whole, no allocation, no
// epoll change); the rest through uv_write.
void ServerConns::Echo(ServerConn* c, const char* data, std::size_t len) {
  uv_buf_t b = uv_buf_init(const_cast<char*>(data), len);
  int n = uv_try_write(AsStream(&c->tcp), &b, 1);
  if (n < 0 && n != UV_EAGAIN) {
    stats_->errors.Add(Step::kWrite, n);
    Close(c, false);
    return;
  }
  std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
  c->echoed += done;
  if (done == len) {
    AfterEcho(c);
    return;
  }
  c->pending.assign(data + done, data + len);
  uv_read_stop(AsStream(&c->tcp));  // bound memory
  uv_buf_t rest = uv_buf_init(c->pending.data(), c->pending.size());
  c->write_req.data = c;
  uv_write(&c->write_req, AsStream(&c->tcp), &rest, 1, OnWrite);
}

void ServerConns::OnWrite(uv_write_t* req, int status) {
  auto* c = static_cast<ServerConn*>(req->data);
  ServerConns* self = c->owner;
  if (status == UV_ECANCELED || c->closing) return;
  if (status < 0) {
    self->stats_->errors.Add(Step::kWrite, status);
    self->Close(c, false);
    return;
  }
  c->echoed += c->pending.size();
  c->pending.clear();
  self->AfterEcho(c);
  if (!c->closing) self->StartReading(c);
}

void ServerConns::AfterEcho(ServerConn* c) {
  if (c->echoed < s_.payload || s_.closer == Closer::kClient) return;
  if (s_.closer == Closer::kRst && Unacked(c) > 0) {
    AwaitAck(c);
    return;
  }
  Close(c, s_.closer == Closer::kRst);
}

// An abort discards the send queue: the RST waits until the peer has every
// byte of the echo, so that it ends the exchange instead of cutting it.
void ServerConns::AwaitAck(ServerConn* c) {
  c->abort_deadline_ns = NowNs() + SecondsToNs(s_.connection_timeout_s);
  awaiting_ack_.push_back(c);
  if (!uv_is_active(AsHandle(&ack_poll_))) {
    uv_timer_start(&ack_poll_, OnAckPoll, 1, 1);
  }
}

void ServerConns::OnAckPoll(uv_timer_t* t) {
  auto* self = static_cast<ServerConns*>(t->data);
  auto& waiting = self->awaiting_ack_;
  const std::uint64_t now = NowNs();
  std::erase_if(waiting, [self, now](ServerConn* c) {
    if (c->closing) return true;
    if (Unacked(c) > 0 && now < c->abort_deadline_ns) return false;
    self->Close(c, true);
    return true;
  });
  if (waiting.empty()) uv_timer_stop(t);
}

void ServerConns::ForceCloseAll() {
  for (ServerConn* c = open_.head; c != nullptr; c = c->next) {
    if (c->closing) continue;
    ++stats_->server_forced_closes;
    Close(c, false);
  }
}

void ServerConns::Close(ServerConn* c, bool rst) {
  if (c->closing) return;
  c->closing = true;
  uv_os_fd_t fd;
  if (rst && uv_fileno(AsHandle(&c->tcp), &fd) == 0) {
    // SO_LINGER {1, 0}: close(2) sends RST and the socket skips TIME_WAIT.
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  uv_close(AsHandle(&c->tcp), OnClosed);
}

void ServerConns::OnClosed(uv_handle_t* h) {
  auto* c = static_cast<ServerConn*>(h->data);
  ServerConns* self = c->owner;
  self->open_.Unlink(c);
  std::erase(self->awaiting_ack_, c);  // closed by another path meanwhile
  delete c;
  self->on_closed_();
}

}  // namespace twbench
