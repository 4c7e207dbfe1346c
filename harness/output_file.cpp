#include "twbench/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <streambuf>

namespace twbench {

// Holds what the writers put until they flush, then hands it to write(2)
// whole: a row is either in the file or, after a failure, cut away again.
class OutputFile::Buffer : public std::streambuf {
 public:
  Buffer(std::string what, int fd) : what_(std::move(what)), fd_(fd) {}
  ~Buffer() override { Close(); }

  bool Close() {
    Commit();
    if (fd_ >= 0 && ::close(fd_) != 0 && error_.empty()) {
      Fail("closing", errno);
    }
    fd_ = -1;
    return error_.empty();
  }
  const std::string& error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      pending_.push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    pending_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int sync() override { return Commit() ? 0 : -1; }

 private:
  bool Commit() {
    std::string data;
    data.swap(pending_);
    if (!error_.empty() || fd_ < 0) return error_.empty();
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Fail("writing", n < 0 ? errno : EIO);
        // A file (not a device or pipe) ends at its last whole unit again.
        [[maybe_unused]] const int cut = ::ftruncate(fd_, committed_);
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    committed_ += static_cast<off_t>(done);
    return true;
  }

  // Said at once, so a run that goes on for minutes does not hide it.
  void Fail(const char* step, int err) {
    error_ = what_ + ": " + step + " failed: " + std::strerror(err) +
             " (errno " + std::to_string(err) + ")";
    std::cerr << "twbench: " << error_
              << "; nothing more is written to it, the run goes on\n";
  }

  std::string what_;  // "--csv out.csv"
  int fd_;
  std::string pending_;
  off_t committed_ = 0;  // bytes in the file, all whole units
  std::string error_;
};

OutputFile::OutputFile(std::string flag, std::string path, int fd)
    : flag_(std::move(flag)),
      path_(std::move(path)),
      buffer_(std::make_unique<Buffer>(flag_ + " " + path_, fd)),
      stream_(buffer_.get()) {}

OutputFile::~OutputFile() { Close(); }

std::unique_ptr<OutputFile> OutputFile::Open(const std::string& flag,
                                             const std::string& path,
                                             std::string* why) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *why = flag + ": cannot open " + path +
           " for writing: " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<OutputFile>(new OutputFile(flag, path, fd));
}

bool OutputFile::Close() {
  stream_.flush();
  return buffer_->Close();
}

const std::string& OutputFile::error() const { return buffer_->error(); }

namespace {

// What identifies the file a path names, for the same-file check; empty
// when it need not be compared (a character device such as /dev/null).
struct Identity {
  std::string key;
  std::string problem;  // the path cannot be an output at all
};

std::string Directory(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Identity Identify(const OutputPath& out) {
  const std::string named = out.flag + "=" + out.path;
  struct stat st {};
  if (::stat(out.path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {"", named + ": is a directory"};
    if (S_ISCHR(st.st_mode)) return {};
    return {
        "inode " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino),
        ""};
  }
  if (errno != ENOENT) return {};  // the open says why
  if (out.path.back() == '/') return {"", named + ": names a directory"};
  const std::string dir = Directory(out.path);
  char real[PATH_MAX];
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      ::realpath(dir.c_str(), real) == nullptr) {
    return {"", named + ": directory " + dir + " does not exist"};
  }
  return {"path " + std::string(real) + "/" +
              out.path.substr(out.path.rfind('/') + 1),
          ""};
}

}  // namespace

std::optional<std::string> CheckOutputPaths(
    const std::vector<OutputPath>& outputs) {
  std::vector<std::pair<const OutputPath*, std::string>> seen;
  for (const OutputPath& out : outputs) {
    if (out.path.empty()) continue;
    Identity id = Identify(out);
    if (!id.problem.empty()) return id.problem;
    if (id.key.empty()) continue;
    for (const auto& [other, key] : seen) {
      if (key != id.key) continue;
      return other->flag + "=" + other->path + " and " + out.flag + "=" +
             out.path + " name the same file; each output needs a file of " +
             "its own";
    }
    seen.emplace_back(&out, id.key);
  }
  return std::nullopt;
}

}  // namespace twbench
