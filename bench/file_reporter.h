// Google Benchmark's own results file (--benchmark_out), checked like
// twbench's: GB writes it through an std::ofstream it never looks at, so a
// full disk left a cut JSON file and exit 0. This reporter writes the same
// format through GB's stream and checks the stream once the file is done.
#pragma once

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

namespace twbench {

class CheckedFileReporter : public benchmark::BenchmarkReporter {
 public:
  // `format`: --benchmark_out_format (json, csv or console; checked up
  // front); `path`: --benchmark_out, for the message.
  CheckedFileReporter(const std::string& format, std::string path);
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;
  // "--benchmark_out out.json: writing failed: ...", empty when written.
  const std::string& error() const { return error_; }

 private:
  void Check();

  std::unique_ptr<benchmark::BenchmarkReporter> format_;
  std::string path_;
  std::string error_;
};

}  // namespace twbench
