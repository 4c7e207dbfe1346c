#include "listing.h"

#include <iostream>
#include <string>
#include <string_view>

#include "twbench/columns.h"
#include "twbench/settings.h"

namespace twbench {

std::optional<int> MaybeList(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    for (std::string_view flag : {"--list_settings", "--list_columns"}) {
      if (arg.substr(0, flag.size()) != flag) continue;
      std::string_view format = arg.substr(flag.size());
      if (!format.empty() && format.front() != '=') continue;
      if (!format.empty()) format.remove_prefix(1);
      if (format.empty()) format = "text";
      if (format != "text" && format != "json" && format != "markdown") {
        std::cerr << "twbench: " << flag << ": '" << format
                  << "' is not one of {text,json,markdown}\n";
        return 2;
      }
      std::cout << (flag == "--list_settings" ? ListSettings(format)
                                              : ListColumns(format));
      return 0;
    }
  }
  return std::nullopt;
}

}  // namespace twbench
