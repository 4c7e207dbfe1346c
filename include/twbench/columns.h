// The column table: every column of the results CSV once, in order, with its
// group, unit, meaning and how scripts/compare judges it. The CSV header,
// `twbench --list_columns` (text, JSON, Markdown) and the column tables of
// results/README.md come from it; a counter a benchmark sets that is not in it
// is an error, never a dropped column.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace twbench {

enum class ColumnGroup {
  kIdentity,  // which run: name, repetition, error, label
  kSetting,   // the scenario (the settings table's CSV columns, in order)
  kCounter,   // a Google Benchmark counter of the same name
  kTime,      // real_time_s
  kContext,   // the machine and the run's namespace
  kJsonOnly,  // a counter in Google Benchmark's JSON, not a CSV column
};

// How scripts/compare reads a number.
enum class Compare {
  kNone,       // not compared (a port, a setting in force, text)
  kHigher,     // higher is better
  kLower,      // lower is better
  kBehaviour,  // neither: a change is a change in what the stack did
};

// A heading of the counter columns' tables in results/README.md.
struct Section {
  std::string_view title;
  std::string_view note;  // Markdown after the title; may be ""
};

struct Column {
  std::string_view name;
  ColumnGroup group;
  const Section* section;  // counters: their table; others: kNoSection
  std::string_view unit;
  Compare compare;
  bool default_compared;  // compared when scripts/compare gets no --metrics
  std::string_view help;  // Markdown
  // The value is the benchmark counter of this name (counters, `isolated`).
  bool from_counter() const {
    return group == ColumnGroup::kCounter || group == ColumnGroup::kJsonOnly ||
           name == "isolated";
  }
};

// Every column, the CSV's in CSV order, then the JSON-only counters.
std::span<const Column> Columns();

// The names of one group's columns, in order.
std::vector<std::string> ColumnNames(ColumnGroup group);

// Whether a benchmark counter of this name has a row (a CSV column, the
// `isolated` context column, or a JSON-only counter).
bool IsKnownCounter(std::string_view name);

// The table as text, JSON or Markdown (`twbench --list_columns[=FORMAT]`);
// the Markdown is results/README.md's column tables, byte for byte.
std::string ListColumns(std::string_view format);

std::string_view ToString(ColumnGroup group);
std::string_view ToString(Compare compare);

}  // namespace twbench
