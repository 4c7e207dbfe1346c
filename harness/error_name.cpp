#include "twbench/error_name.h"

#include <uv.h>

namespace twbench {

std::string UvErrorName(int uv_err) {
  char name[64] = {};
  uv_err_name_r(uv_err, name, sizeof name);
  return name;
}

}  // namespace twbench
