// The one way the shim's C functions hand an error to Rust: a heap copy of
// the message, freed by the caller through exp_shim_free_error (shim.cpp).
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

inline char *exp_error(const std::string &msg) {
  char *out = static_cast<char *>(std::malloc(msg.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, msg.c_str(), msg.size() + 1);
  }
  return out;
}
