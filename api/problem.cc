// Status -> problem+json mapping.
#include "api/problem.h"

#include "base/json.h"
#include "base/log.h"
#include "base/utf8.h"

namespace mandated::api {
namespace {

std::string PercentEncodeUnprintable(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string_view DefaultSlug(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid-request";
    case StatusCode::kNotFound: return "not-found";
    case StatusCode::kAlreadyExists: return "already-exists";
    case StatusCode::kPermissionDenied: return "forbidden";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kFailedPrecondition: return "conflict";
    case StatusCode::kResourceExhausted: return "rate-limited";
    case StatusCode::kAborted: return "conflict";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal";
    case StatusCode::kDataLoss: return "internal";
    case StatusCode::kOutOfRange: return "out-of-range";
    case StatusCode::kUnimplemented: return "not-implemented";
  }
  return "internal";
}

std::string_view Title(int http_status) {
  switch (http_status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return http_status >= 500 ? "Internal Server Error" : "Error";
  }
}

}  // namespace

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
      return status.reason() == "unsupported-media-type" ? 415 : 400;
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kFailedPrecondition:
      // Well-formed but unusable requests: the key reused for another body, a 402 answer
      // with nothing the payer can pay.
      return status.reason() == "idempotency-key-reused" ||
                     status.reason() == "x402-no-acceptable-requirement" ||
                     status.reason() == "x402-requirement-mismatch"
                 ? 422
                 : 409;
    case StatusCode::kAborted: return 409;
    case StatusCode::kResourceExhausted:
      return status.reason() == "storage-full" ? 507 : 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss: return 500;
  }
  return 500;
}

std::string ProblemSlug(const Status& status) {
  if (!status.reason().empty()) {
    return status.reason();
  }
  return std::string(DefaultSlug(status.code()));
}

Response ProblemResponse(int http_status, std::string_view slug, std::string_view title,
                         std::string_view detail, std::string_view instance,
                         std::string_view request_id) {
  json::Value body = json::Value::Object();
  body.Set("type", json::Value::String(std::string(kProblemTypePrefix) + std::string(slug)));
  body.Set("title", json::Value::String(std::string(title.empty() ? Title(http_status) : title)));
  body.Set("status", json::Value::Int(http_status));
  // Both may echo a client's bytes (an id from the path): JSON text is UTF-8, and `instance` is
  // a URI reference, so bytes that are not printable ASCII go back percent-encoded.
  body.Set("detail", json::Value::String(ReplaceInvalidUtf8(detail)));
  if (!instance.empty()) {
    body.Set("instance", json::Value::String(PercentEncodeUnprintable(instance)));
  }
  if (!request_id.empty()) {
    body.Set("request_id", json::Value::String(std::string(request_id)));
  }
  Response r = Response::Json(http_status, json::Write(body));
  r.content_type = std::string(kProblemContentType);
  return r;
}

Response ProblemResponse(const Status& status, const Request& request) {
  const int http = HttpStatusFor(status);
  std::string detail = status.message();
  if (http >= 500 && http != 503 && http != 507) {
    log::Error("internal error", {{"request_id", request.request_id},
                                  {"error", status.ToString()}});
    detail = "an internal error occurred; quote the request id when reporting it";
  } else if (status.reason().starts_with("storage-")) {
    // Storage messages name files of the data directory: logged, not shown.
    log::Error("storage error", {{"request_id", request.request_id},
                                 {"error", status.ToString()}});
    detail = http == 507 ? "storage is full; quote the request id when reporting it"
                         : "storage is unavailable; quote the request id when reporting it";
  }
  return ProblemResponse(http, ProblemSlug(status), Title(http), detail, request.path,
                         request.request_id);
}

void AddProblemMember(Response& problem, std::string_view name, std::string value) {
  Result<json::Value> body = json::Parse(problem.body);
  if (!body.ok() || !body->is_object()) return;
  body->Set(name, json::Value::String(std::move(value)));
  problem.body = json::Write(*body);
}

}  // namespace mandated::api
