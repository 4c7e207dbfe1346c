#include "stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "bm_churn.h"

namespace twbench {
namespace {

std::atomic<int> g_signal{0};
std::atomic<bool> g_running{false};
static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
// SetQuietRank: what the handler says instead; written before any signal
// can need it, read only by the handler.
char g_quiet_note[160] = {};

const char* Name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
    default:
      return nullptr;
  }
}

void Say(const char* text) {
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, text, strlen(text));
}

// Async-signal-safe only: lock-free atomics, write(2), _exit(2).
extern "C" void OnStopSignal(int signal) {
  int none = 0;
  g_signal.compare_exchange_strong(none, signal);
  g_interrupted.store(true);
  const bool quiet = g_quiet_note[0] != '\0';
  if (g_running.load()) {
    if (quiet) {
      Say("twbench: ");
      Say(Name(signal));
      Say(g_quiet_note);
    }
    return;
  }
  Say("twbench: ");
  Say(Name(signal));
  Say(quiet
          ? " before the first run: this rank of the MPI job ends\n"
          : " before the first run: nothing was measured, nothing to write\n");
  _exit(128 + signal);
}

}  // namespace

void InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  // SA_RESTART: a write(2) of a row is not cut short by the signal.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int signal : kStopSignals) sigaddset(&sa.sa_mask, signal);
  for (int signal : kStopSignals) sigaction(signal, &sa, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);
}

void EnterRunPhase() { g_running.store(true); }

void SetQuietRank(int rank) {
  std::string note = ": rank " + std::to_string(rank) +
                     " of the MPI job stops its run (rank 0 writes the "
                     "rows)\n";
  note.resize(std::min(note.size(), sizeof g_quiet_note - 1));
  std::memcpy(g_quiet_note, note.c_str(), note.size() + 1);
}

bool QuietRank() { return g_quiet_note[0] != '\0'; }

void LingerForRank0() {
  std::this_thread::sleep_for(std::chrono::duration<double>(kLingerS));
}

int StopSignal() { return g_signal.load(); }

std::string SignalName(int signal) {
  const char* name = Name(signal);
  return name != nullptr ? name : "signal " + std::to_string(signal);
}

std::string InterruptedMessage() {
  return "skipped: interrupted (" + SignalName(StopSignal()) + ")";
}

}  // namespace twbench
