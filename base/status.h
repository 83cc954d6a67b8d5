// Status: the error value every fallible function in mandated returns (no exceptions).
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace mandated {

// Canonical codes, a subset of abseil's. Only api/ maps them to HTTP statuses.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kFailedPrecondition,
  kResourceExhausted,
  kAborted,
  kUnavailable,
  kInternal,
  kDataLoss,
  kOutOfRange,
  kUnimplemented,
};

std::string_view StatusCodeName(StatusCode code);

// A code, a human-readable message and an optional machine-readable reason slug
// (e.g. "duplicate-key") that api/ turns into a stable problem `type` (specs/errors.md).
// Thread safety: a value type; distinct objects may be used from distinct threads.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string reason = {})
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Machine-readable slug; empty when the code alone says enough.
  const std::string& reason() const { return reason_; }

  // Prefixes the message with context ("opening store: ...") keeping code and reason.
  Status Annotate(std::string_view context) const;

  // Spells out that an error is dropped on purpose (searchable).
  void IgnoreError() const {}

  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.reason_ == b.reason_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
};

inline Status OkStatus() { return Status(); }
Status InvalidArgumentError(std::string message, std::string reason = {});
Status NotFoundError(std::string message, std::string reason = {});
Status AlreadyExistsError(std::string message, std::string reason = {});
Status PermissionDeniedError(std::string message, std::string reason = {});
Status UnauthenticatedError(std::string message, std::string reason = {});
Status FailedPreconditionError(std::string message, std::string reason = {});
Status ResourceExhaustedError(std::string message, std::string reason = {});
Status AbortedError(std::string message, std::string reason = {});
Status UnavailableError(std::string message, std::string reason = {});
Status InternalError(std::string message, std::string reason = {});
Status DataLossError(std::string message, std::string reason = {});
Status OutOfRangeError(std::string message, std::string reason = {});
Status UnimplementedError(std::string message, std::string reason = {});

}  // namespace mandated
