// Helpers shared by route handlers: strict JSON bodies, bearer tokens, JSON responses.
#pragma once

#include <string>
#include <string_view>

#include "api/http_types.h"
#include "api/problem.h"
#include "base/json.h"
#include "base/result.h"

namespace mandated::api {

// Parses the request body as strict JSON. kInvalidArgument with reason "unsupported-media-type"
// (mapped to 415) unless Content-Type is application/json; otherwise json::Parse's reasons.
Result<json::Value> ParseJsonBody(const Request& req);

// The token of "Authorization: Bearer <token>", or "" when absent or malformed: a view into
// the request's header, so the secret is not copied (valid while `req` and its header live).
std::string_view BearerToken(const Request& req);

// Overwrites every Authorization header value of `req` with zeros and removes it, once the
// caller has been authenticated (the token is a secret; nothing after the guard reads it).
void WipeAuthorization(Request& req);

Response JsonResponse(int status, const json::Value& body);

// A problem+json response for `status` when it is an error, else `status_code` with `body()`.
// Keeps handlers to one line per outcome.
template <typename T, typename ToJson>
Response Answer(const Result<T>& r, const Request& req, int status_code, ToJson to_json);

// ?after=ID&limit=N (1 to 1000, default 100); kInvalidArgument ("bad-query") otherwise.
struct Page {
  std::string after;
  size_t limit = 100;
};
Result<Page> ParsePage(const Request& req);

// {"items": [...], "next_after": "<last id>"}; next_after only when `more` may follow (the
// underlying page was full).
Response ListResponse(json::Value items, bool more, const std::string& last_id);

template <typename T, typename ToJson>
Response Answer(const Result<T>& r, const Request& req, int status_code, ToJson to_json) {
  if (!r.ok()) {
    return ProblemResponse(r.error(), req);
  }
  return JsonResponse(status_code, to_json(*r));
}

}  // namespace mandated::api
