// A results file written through one checked path: every write, the final
// flush and the close are checked, and the first failure is kept as a
// message naming the flag, the file and the errno. Rows are appended and
// written to the kernel one flush at a time, so a row measured is a row kept
// (Ctrl-C, SIGKILL, a crash); a failed write is cut back to the last whole
// row, so the file never ends mid-row.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace twbench {

class OutputFile {
 public:
  // Creates or truncates `path` for `flag` ("--csv"). nullptr and `*why`
  // ("--csv: cannot open /x/y.csv for writing: No such file or directory")
  // when it cannot be opened.
  static std::unique_ptr<OutputFile> Open(const std::string& flag,
                                          const std::string& path,
                                          std::string* why);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // The stream the writers use; each flush() writes what it holds as one
  // unit (a row, or a run's rows). After a failure it writes nothing more.
  std::ostream& stream() { return stream_; }

  // Flushes and closes; false when this or any earlier write failed.
  bool Close();

  // The first failure ("--csv: writing out.csv: No space left on device"),
  // empty when none.
  const std::string& error() const;
  const std::string& path() const { return path_; }

 private:
  class Buffer;
  OutputFile(std::string flag, std::string path, int fd);

  std::string flag_;
  std::string path_;
  std::unique_ptr<Buffer> buffer_;
  std::ostream stream_;
};

// One output a command line names: the flag and its path.
struct OutputPath {
  std::string flag;  // "--csv", "--timeseries", "--benchmark_out"
  std::string path;
};

// Checks the outputs before anything runs: each path's directory exists and
// the path is not a directory; no two flags name the same file (by device
// and inode when the file exists, else by the real path of its directory
// and its name; character devices such as /dev/null may be shared). Returns
// the first problem as a message naming the flags, or nullopt.
std::optional<std::string> CheckOutputPaths(
    const std::vector<OutputPath>& outputs);

}  // namespace twbench
