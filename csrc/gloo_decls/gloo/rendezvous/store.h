// See gloo_decls/gloo/README.md: names only, for ProcessGroupGloo.hpp.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace gloo {
// Named by inline code in ProcessGroupGloo.hpp that exp never calls
// (declared so the header parses; nothing here is defined or used).
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
namespace rendezvous {
// The interface c10d's GlooStore adapter overrides. exp never constructs a
// GlooStore (libtorch's ProcessGroupGloo does, from its own definitions).
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string &key, const std::vector<char> &data) = 0;
  virtual std::vector<char> get(const std::string &key) = 0;
  virtual void wait(const std::vector<std::string> &keys) = 0;
  virtual void wait(const std::vector<std::string> &keys,
                    const std::chrono::milliseconds &timeout) = 0;
};
}  // namespace rendezvous
}  // namespace gloo
