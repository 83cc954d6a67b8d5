// Result<T>: a value or a non-OK Status; member names follow std::expected so a later switch is
// mechanical.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/status.h"

namespace mandated {

// Thread safety: a value type, like the T it holds.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<T, Status>, "use Status directly");

 public:
  Result(T value) : rep_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(Status status) : rep_(std::in_place_index<1>, std::move(status)) {  // NOLINT: implicit
    assert(!std::get<1>(rep_).ok());
    if (std::get<1>(rep_).ok()) {  // never let an OK status pose as an error value
      std::get<1>(rep_) = Status(StatusCode::kInternal, "Result built from an OK status");
    }
  }

  bool has_value() const { return rep_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  // REQUIRES: has_value().
  T& value() & { return std::get<0>(rep_); }
  const T& value() const& { return std::get<0>(rep_); }
  T&& value() && { return std::get<0>(std::move(rep_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !has_value().
  const Status& error() const& { return std::get<1>(rep_); }
  Status&& error() && { return std::get<1>(std::move(rep_)); }

  // OK when a value is held, else the error.
  Status status() const { return has_value() ? Status() : std::get<1>(rep_); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> rep_;
};

}  // namespace mandated

// Propagation macros. Both expand to several statements: brace every `if` around them.
#define MD_CONCAT_INNER(a, b) a##b
#define MD_CONCAT(a, b) MD_CONCAT_INNER(a, b)

#define MD_RETURN_IF_ERROR(expr)                   \
  do {                                             \
    ::mandated::Status md_status_ = (expr);        \
    if (!md_status_.ok()) {                        \
      return md_status_;                           \
    }                                              \
  } while (0)

#define MD_ASSIGN_OR_RETURN(lhs, expr) \
  MD_ASSIGN_OR_RETURN_IMPL(MD_CONCAT(md_result_, __LINE__), lhs, expr)

#define MD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.has_value()) {                        \
    return std::move(tmp).error();               \
  }                                              \
  lhs = std::move(tmp).value()
