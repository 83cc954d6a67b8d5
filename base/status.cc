// Status helpers: code names, annotation and the error factories.
#include "base/status.h"

namespace mandated {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case StatusCode::kAborted: return "ABORTED";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kDataLoss: return "DATA_LOSS";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
  }
  return "UNKNOWN";
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) {
    return *this;
  }
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg), reason_);
}

std::string Status::ToString() const {
  if (ok()) {
    return "OK";
  }
  std::string out(StatusCodeName(code_));
  if (!reason_.empty()) {
    out += " [" + reason_ + "]";
  }
  out += ": " + message_;
  return out;
}

#define MANDATED_STATUS_FACTORY(Name, Code)                  \
  Status Name(std::string message, std::string reason) {     \
    return Status(StatusCode::Code, std::move(message), std::move(reason)); \
  }
MANDATED_STATUS_FACTORY(InvalidArgumentError, kInvalidArgument)
MANDATED_STATUS_FACTORY(NotFoundError, kNotFound)
MANDATED_STATUS_FACTORY(AlreadyExistsError, kAlreadyExists)
MANDATED_STATUS_FACTORY(PermissionDeniedError, kPermissionDenied)
MANDATED_STATUS_FACTORY(UnauthenticatedError, kUnauthenticated)
MANDATED_STATUS_FACTORY(FailedPreconditionError, kFailedPrecondition)
MANDATED_STATUS_FACTORY(ResourceExhaustedError, kResourceExhausted)
MANDATED_STATUS_FACTORY(AbortedError, kAborted)
MANDATED_STATUS_FACTORY(UnavailableError, kUnavailable)
MANDATED_STATUS_FACTORY(InternalError, kInternal)
MANDATED_STATUS_FACTORY(DataLossError, kDataLoss)
MANDATED_STATUS_FACTORY(OutOfRangeError, kOutOfRange)
MANDATED_STATUS_FACTORY(UnimplementedError, kUnimplemented)
#undef MANDATED_STATUS_FACTORY

}  // namespace mandated
