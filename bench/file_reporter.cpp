#include "file_reporter.h"

#include <cerrno>
#include <cstring>
#include <iostream>

namespace twbench {

CheckedFileReporter::CheckedFileReporter(const std::string& format,
                                         std::string path)
    : path_(std::move(path)) {
  if (format == "csv") {
    // Deprecated in GB, but --benchmark_out_format=csv asks for it, as GB
    // itself would make it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    format_ = std::make_unique<benchmark::CSVReporter>();
#pragma GCC diagnostic pop
  } else if (format == "console") {
    format_ = std::make_unique<benchmark::ConsoleReporter>(
        benchmark::ConsoleReporter::OO_None);
  } else {
    format_ = std::make_unique<benchmark::JSONReporter>();
  }
}

// GB gives this reporter its file stream before the first call.
bool CheckedFileReporter::ReportContext(const Context& context) {
  format_->SetOutputStream(&GetOutputStream());
  format_->SetErrorStream(&GetErrorStream());
  const bool ok = format_->ReportContext(context);
  Check();
  return ok;
}

void CheckedFileReporter::ReportRuns(const std::vector<Run>& runs) {
  format_->ReportRuns(runs);
  Check();
}

void CheckedFileReporter::Finalize() {
  format_->Finalize();
  GetOutputStream().flush();
  Check();
}

// An ofstream keeps no errno; the failed write(2) just before it does.
void CheckedFileReporter::Check() {
  if (!error_.empty() || GetOutputStream().good()) return;
  const int err = errno;
  error_ = "--benchmark_out " + path_ +
           ": writing failed: " + std::strerror(err) + " (errno " +
           std::to_string(err) + ")";
  std::cerr << "twbench: " << error_ << "\n";
}

}  // namespace twbench
