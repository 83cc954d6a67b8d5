// Handler helpers implementation.
#include "api/handler_util.h"

namespace mandated::api {

Result<json::Value> ParseJsonBody(const Request& req) {
  std::string type = req.Header("content-type");
  size_t semi = type.find(';');
  if (semi != std::string::npos) {
    type = type.substr(0, semi);
  }
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (char& c : type) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (type != "application/json") {
    return InvalidArgumentError("request body must be application/json",
                                "unsupported-media-type");
  }
  return json::Parse(req.body);
}

std::string BearerToken(const Request& req) {
  const std::string h = req.Header("authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (h.size() <= kScheme.size() || h.compare(0, kScheme.size(), kScheme) != 0) {
    return "";
  }
  return h.substr(kScheme.size());
}

Response JsonResponse(int status, const json::Value& body) {
  return Response::Json(status, json::Write(body));
}

}  // namespace mandated::api
