// Shared by the C++ files of planform-optim: copy an error message into a Rust-provided buffer.
#pragma once

#include <cstddef>
#include <cstring>

namespace planform {

// Writes `msg` into `err` (`err_len` bytes, NUL-terminated, truncated if needed).
inline void write_error(const char* msg, char* err, size_t err_len) {
  if (err_len == 0) return;
  std::strncpy(err, msg, err_len - 1);
  err[err_len - 1] = '\0';
}

}  // namespace planform
