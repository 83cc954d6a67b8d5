// Helpers shared by route handlers: strict JSON bodies, bearer tokens, JSON responses.
#pragma once

#include <string>

#include "api/http_types.h"
#include "base/json.h"
#include "base/result.h"

namespace mandated::api {

// Parses the request body as strict JSON. kInvalidArgument with reason "unsupported-media-type"
// (mapped to 415) unless Content-Type is application/json; otherwise json::Parse's reasons.
Result<json::Value> ParseJsonBody(const Request& req);

// The token of "Authorization: Bearer <token>", or "" when absent or malformed.
std::string BearerToken(const Request& req);

Response JsonResponse(int status, const json::Value& body);

}  // namespace mandated::api
