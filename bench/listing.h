// `twbench --list_settings[=FORMAT]` and `--list_columns[=FORMAT]`: the
// settings table and the column table, as text, JSON or Markdown.
#pragma once

#include <optional>

namespace twbench {

// When argv asks for a listing: prints it and returns the exit status (0, or
// 2 for an unknown format); nullopt otherwise.
std::optional<int> MaybeList(int argc, char** argv);

}  // namespace twbench
