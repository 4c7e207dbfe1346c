// The settings table: every setting of twbench once, with the one spelling
// its flag, its CSV column and its benchmark-name segment share (an alias
// where an old name must stay), its help and accepted values, its kind, when
// it stands in the benchmark name, whether the bare-epoll baseline runs it,
// whether it needs a network namespace of the run's own, and accessors for its
// Scenario field. Flag registration, the matrix, SettingsName, the CSV's
// setting columns, the namespace check and the baseline's refusal are loops
// over this table: a new setting is a Scenario field, a row here, and the code
// that uses it.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twbench/scenario.h"

namespace twbench {

enum class SettingKind {
  kMatrix,  // a comma list; the benchmarks run the cross product
  kRun,     // one value for every run
  kOutput,  // where and how results are written; no Scenario field
};

struct Setting {
  std::string_view key;      // the flag, without "--"
  std::string_view column;   // the CSV settings column; "" for none
  std::string_view segment;  // the name segment; "" for none
  SettingKind kind;
  std::string_view values;  // what it accepts, for help and errors
  // The flag's default as given on the command line ("0,1", "20000"); ""
  // leaves the Scenario field as it is (unset knobs, new_reuseaddr).
  std::string_view default_text;
  std::string_view help;
  // Whether the bare-epoll baseline honours the setting; an unsupported
  // setting away from its Scenario{} default makes the baseline refuse.
  bool baseline;
  // Away from its Scenario{} default it needs a network namespace per run.
  bool needs_netns;
  // Parses one value into the scenario: "" or why the value is refused
  // ("not in {client,server,rst}"). Null for output settings.
  std::string (*parse)(std::string_view text, Scenario& s);
  // The value as the name and the CSV spell it; "" when unset.
  std::string (*format)(const Scenario& s);
  // Whether it stands in the benchmark name (null: never).
  bool (*in_name)(const Scenario& s);
  // The CSV cell when it differs from format() (null: format()).
  std::string (*cell)(const Scenario& s);
};

// Every setting, in the order of the benchmark name and of the CSV's setting
// columns.
std::span<const Setting> Settings();

// The row of `key` (the flag or an alias), or nullptr.
const Setting* FindSetting(std::string_view key);

// The order the matrix nests its settings in, outermost first (the benchmark
// order users' regression files are in).
std::span<const std::string_view> MatrixNesting();

// Whether `s` has this setting at its Scenario{} default.
bool AtDefault(const Setting& setting, const Scenario& s);

// Applies "key=value" patches in order; "" or the first refusal, naming the
// setting. Used by the showcase rows and named scenarios.
std::string Apply(
    Scenario& s,
    std::span<const std::pair<std::string_view, std::string_view>> patch);

// The settings away from their default that the baseline does not run, as
// "closer, payload"; "" when the baseline can run the scenario.
std::string BaselineUnsupported(const Scenario& s);

// The settings away from their default that need a network namespace per run
// ("tw_reuse, topology"); "" when none.
std::string NamespaceOnly(const Scenario& s);

// The CSV's setting columns, in order.
std::vector<std::string> SettingColumns();
// Their cells for `s`, in the same order.
std::vector<std::string> SettingCells(const Scenario& s);

// The table as text (the help's layout), JSON or Markdown: for
// `twbench --list_settings[=json|markdown]`.
std::string ListSettings(std::string_view format);

}  // namespace twbench
