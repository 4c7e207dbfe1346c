// The per-namespace TCP knobs: each a file under /proc/sys/net/ipv4, opened
// by the calling thread so that it resolves to that thread's namespace.
#include "twbench/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "twbench/unique_fd.h"

namespace twbench {
namespace {

constexpr char kDir[] = "/proc/sys/net/ipv4/";
constexpr char kTwReuse[] = "tcp_tw_reuse";
constexpr char kTwReuseDelay[] = "tcp_tw_reuse_delay";
constexpr char kPortRange[] = "ip_local_port_range";
constexpr char kMaxTwBuckets[] = "tcp_max_tw_buckets";
constexpr char kRfc1337[] = "tcp_rfc1337";
constexpr char kUnprivilegedPortStart[] = "ip_unprivileged_port_start";

std::string PathOf(const char* knob) { return std::string(kDir) + knob; }

// The whole file in one read: a sysctl value is a short line.
// ENOENT comes back as nullopt (the kernel has no such knob).
std::optional<std::string> ReadFile(const std::string& path) {
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw std::system_error(errno, std::generic_category(),
                            "open(" + path + ")");
  }
  std::array<char, 128> buf{};
  const ssize_t n = read(fd.get(), buf.data(), buf.size());
  if (n < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "read(" + path + ")");
  }
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

// Whitespace-separated integers; throws when the text is anything else.
std::vector<int> ParseInts(const std::string& text, const std::string& path) {
  std::vector<int> values;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    if (*p == ' ' || *p == '\t' || *p == '\n') {
      ++p;
      continue;
    }
    int value = 0;
    const auto [next, ec] = std::from_chars(p, end, value);
    if (ec != std::errc()) {
      throw std::runtime_error(path + ": not integers: \"" + text + "\"");
    }
    values.push_back(value);
    p = next;
  }
  return values;
}

std::vector<int> ReadInts(const char* knob, std::size_t count) {
  const std::string path = PathOf(knob);
  const std::optional<std::string> text = ReadFile(path);
  if (!text) {
    throw std::system_error(ENOENT, std::generic_category(),
                            "open(" + path + ")");
  }
  std::vector<int> values = ParseInts(*text, path);
  if (values.size() != count) {
    throw std::runtime_error(path + ": expected " + std::to_string(count) +
                             " integer(s), read \"" + *text + "\"");
  }
  return values;
}

}  // namespace

bool KernelHasTwReuseDelay() {
  return access(PathOf(kTwReuseDelay).c_str(), F_OK) == 0;
}

namespace {

std::string Range(std::pair<int, int> range) {
  return std::to_string(range.first) + "-" + std::to_string(range.second);
}

// The checks the kernel would make anyway, with messages that say the rule.
std::string Check(const TcpKnobs& knobs) {
  if (knobs.tw_reuse && (*knobs.tw_reuse < 0 || *knobs.tw_reuse > 2)) {
    return std::string(kTwReuse) + "=" + std::to_string(*knobs.tw_reuse) +
           ": out of range (0 off, 1 on, 2 loopback only)";
  }
  if (knobs.tw_reuse_delay_ms && *knobs.tw_reuse_delay_ms < 1) {
    return std::string(kTwReuseDelay) + "=" +
           std::to_string(*knobs.tw_reuse_delay_ms) +
           ": out of range (at least 1 ms)";
  }
  if (knobs.port_range) {
    const auto [min, max] = *knobs.port_range;
    const std::string head =
        std::string(kPortRange) + "=" + Range(*knobs.port_range) + ": ";
    if (min < 1 || max > 65535) return head + "ports must be in 1..65535";
    if (min > max) return head + "minimum above maximum";
  }
  if (knobs.max_tw_buckets && *knobs.max_tw_buckets < 0) {
    return std::string(kMaxTwBuckets) + "=" +
           std::to_string(*knobs.max_tw_buckets) + ": must be >= 0";
  }
  return "";
}

// The kernel refuses a range starting below ip_unprivileged_port_start with a
// bare EINVAL; say which rule it was.
std::string PortRangeHint(int min) {
  try {
    const int start = ReadInts(kUnprivilegedPortStart, 1)[0];
    if (min < start) {
      return " (the minimum must be >= ip_unprivileged_port_start=" +
             std::to_string(start) + ")";
    }
  } catch (const std::exception&) {
    // No hint then; the errno already says what happened.
  }
  return "";
}

// Writes `text` in one write() (a sysctl takes its value from one write at
// offset 0) and reads back `expected`.
std::string WriteKnob(const char* knob, const std::string& shown,
                      const std::string& text,
                      const std::vector<int>& expected) {
  const std::string path = PathOf(knob);
  const std::string head = std::string(knob) + "=" + shown + ": ";
  const UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      return std::string(knob) + ": this kernel has no " + path;
    }
    return head + "open(" + path + "): " + std::strerror(errno);
  }
  const ssize_t n = write(fd.get(), text.data(), text.size());
  if (n < 0) {
    const int err = errno;
    std::string message = head + std::strerror(err);
    if (err == EINVAL && std::strcmp(knob, kPortRange) == 0) {
      message += PortRangeHint(expected[0]);
    }
    return message;
  }
  if (static_cast<std::size_t>(n) != text.size()) {
    return head + "short write to " + path;
  }
  try {
    const std::vector<int> now = ReadInts(knob, expected.size());
    if (now != expected) {
      std::string seen;
      for (const int v : now) {
        if (!seen.empty()) seen += ' ';
        seen += std::to_string(v);
      }
      return head + "read back " + seen;
    }
  } catch (const std::exception& e) {
    return head + "read back: " + e.what();
  }
  return "";
}

std::string WriteInt(const char* knob, int value) {
  const std::string shown = std::to_string(value);
  return WriteKnob(knob, shown, shown + "\n", {value});
}

}  // namespace

TcpKnobValues ReadTcpKnobs() {
  TcpKnobValues values;
  values.tw_reuse = ReadInts(kTwReuse, 1)[0];
  const std::string delay_path = PathOf(kTwReuseDelay);
  if (const std::optional<std::string> text = ReadFile(delay_path)) {
    const std::vector<int> delay = ParseInts(*text, delay_path);
    if (delay.size() != 1) {
      throw std::runtime_error(delay_path + ": expected 1 integer, read \"" +
                               *text + "\"");
    }
    values.tw_reuse_delay_ms = delay[0];
  }
  const std::vector<int> range = ReadInts(kPortRange, 2);
  values.port_min = range[0];
  values.port_max = range[1];
  values.max_tw_buckets = ReadInts(kMaxTwBuckets, 1)[0];
  values.rfc1337 = ReadInts(kRfc1337, 1)[0];
  return values;
}

std::string ApplyTcpKnobs(const TcpKnobs& knobs) {
  if (std::string why = Check(knobs); !why.empty()) return why;
  if (knobs.tw_reuse) {
    if (std::string why = WriteInt(kTwReuse, *knobs.tw_reuse); !why.empty()) {
      return why;
    }
  }
  if (knobs.tw_reuse_delay_ms) {
    if (std::string why = WriteInt(kTwReuseDelay, *knobs.tw_reuse_delay_ms);
        !why.empty()) {
      return why;
    }
  }
  if (knobs.port_range) {
    const auto [min, max] = *knobs.port_range;
    if (std::string why = WriteKnob(
            kPortRange, Range(*knobs.port_range),
            std::to_string(min) + " " + std::to_string(max) + "\n", {min, max});
        !why.empty()) {
      return why;
    }
  }
  if (knobs.max_tw_buckets) {
    if (std::string why = WriteInt(kMaxTwBuckets, *knobs.max_tw_buckets);
        !why.empty()) {
      return why;
    }
  }
  return "";
}

std::string ToString(const TcpKnobValues& values) {
  std::string text =
      std::string(kTwReuse) + "=" + std::to_string(values.tw_reuse);
  if (values.tw_reuse_delay_ms) {
    text += std::string(" ") + kTwReuseDelay + "=" +
            std::to_string(*values.tw_reuse_delay_ms);
  }
  text += std::string(" ") + kPortRange + "=" +
          std::to_string(values.port_min) + "-" +
          std::to_string(values.port_max);
  text += std::string(" ") + kMaxTwBuckets + "=" +
          std::to_string(values.max_tw_buckets);
  return text;
}

}  // namespace twbench
