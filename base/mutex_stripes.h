// MutexStripes: a fixed set of mutexes picked by key, so that work on one key (a principal)
// is serialized while work on different keys mostly is not.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string_view>

namespace mandated {

// Thread safety: safe from any thread (the mutexes are the synchronization). Two keys share a
// mutex when IndexOf maps them to the same stripe: correct, only less concurrent.
template <size_t N>
class MutexStripes {
 public:
  static constexpr size_t kStripes = N;
  static size_t IndexOf(std::string_view key) { return std::hash<std::string_view>{}(key) % N; }
  std::mutex& For(std::string_view key) { return mutexes_[IndexOf(key)]; }

 private:
  std::array<std::mutex, N> mutexes_;
};

}  // namespace mandated
