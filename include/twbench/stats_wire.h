// A run's stats as bytes, to gather them from other processes (the ranks of
// an MPI job, one per host) into one row. Every rank of a job runs the same
// build, so numbers travel in this machine's byte order; the header names
// the format's version and the build's byte order and histogram size, and a
// buffer from another build, cut short or with bytes left over is refused,
// never half read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "twbench/churn_stats.h"

namespace twbench {

// Appends fixed-size numbers and length-prefixed strings.
class WireWriter {
 public:
  void U64(std::uint64_t v);
  void I64(std::int64_t v) { U64(static_cast<std::uint64_t>(v)); }
  void F64(double v);
  void Bool(bool v) { U64(v ? 1 : 0); }
  void Str(std::string_view s);
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what a WireWriter wrote, in the same order. A read past the end
// fails and every later one too; ok() says whether all succeeded.
class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  bool U64(std::uint64_t* v);
  bool I64(std::int64_t* v);
  bool F64(double* v);
  bool Bool(bool* v);
  bool Str(std::string* s);
  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

// Every field of the run's stats. A client's ports_seen travel as they are:
// another host's are other source addresses, so a receiver that merges
// hosts must append them, not OR them into its own.
void Write(WireWriter& w, const ChurnStats& st);
bool Read(WireReader& r, ChurnStats* st);

std::string PackChurnStats(const ChurnStats& st);
// nullopt when the bytes are not exactly one ChurnStats of this build.
std::optional<ChurnStats> UnpackChurnStats(std::string_view bytes);

}  // namespace twbench
