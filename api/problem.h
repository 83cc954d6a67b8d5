// RFC 9457 problem+json responses: the one place that maps Status codes and reasons to HTTP
// statuses and stable problem `type` URIs (catalogue in specs/errors.md).
#pragma once

#include <string>
#include <string_view>

#include "api/http_types.h"
#include "base/status.h"

namespace mandated::api {

inline constexpr std::string_view kProblemTypePrefix = "urn:mandated:problem:";
inline constexpr std::string_view kProblemContentType = "application/problem+json";

// The HTTP status for a non-OK Status.
int HttpStatusFor(const Status& status);

// The problem slug: the Status reason if set, else a default per code ("invalid-request",
// "not-found", ...).
std::string ProblemSlug(const Status& status);

// Builds the problem response: {"type","title","status","detail","instance","request_id"}.
// Internal errors (500) carry a generic detail; the real message goes only to the log.
Response ProblemResponse(const Status& status, const Request& request);

// Adds the extension member `name` (RFC 9457 §3.2), a string, to a problem response's body
// (e.g. the signed AP2 error receipt of a refusal). A body that is not a JSON object is left.
void AddProblemMember(Response& problem, std::string_view name, std::string value);

// For errors raised before a Request exists (transport-level 413/400/404/405).
Response ProblemResponse(int http_status, std::string_view slug, std::string_view title,
                         std::string_view detail, std::string_view instance,
                         std::string_view request_id);

}  // namespace mandated::api
