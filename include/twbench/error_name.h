// Names of error codes for rows and messages ("EADDRINUSE").
#pragma once

#include <string>

namespace twbench {

// libuv's name of a libuv error code (a negative errno): "EADDRINUSE" for
// UV_EADDRINUSE, "Unknown system error 0" for one it does not know. Written
// into a buffer of its own (uv_err_name_r): uv_err_name() allocates a string
// for a code it does not know and never frees it.
std::string UvErrorName(int uv_err);

// The same for a positive errno value.
inline std::string ErrnoName(int err) { return UvErrorName(-err); }

}  // namespace twbench
