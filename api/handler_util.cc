// Handler helpers implementation.
#include "api/handler_util.h"

#include "base/secret.h"

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

std::string_view BearerToken(const Request& req) {
  // RFC 9110 §11.1: the scheme is case-insensitive and followed by one or more spaces.
  auto it = req.headers.find("authorization");  // header names are lower-cased
  if (it == req.headers.end()) return {};
  const std::string_view h = it->second;
  constexpr std::string_view kScheme = "bearer";
  if (h.size() <= kScheme.size() + 1 || h[kScheme.size()] != ' ') return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if ((h[i] | 0x20) != kScheme[i]) return {};
  }
  const size_t token = h.find_first_not_of(' ', kScheme.size());
  return token == std::string_view::npos ? std::string_view() : h.substr(token);
}

void WipeAuthorization(Request& req) {
  auto [first, last] = req.headers.equal_range("authorization");
  for (auto it = first; it != last; ++it) {
    SecureWipe(it->second.data(), it->second.size());
  }
  req.headers.erase(first, last);
}

Response JsonResponse(int status, const json::Value& body) {
  return Response::Json(status, json::Write(body));
}

Result<Page> ParsePage(const Request& req) {
  Page page;
  page.after = req.Query("after");
  if (std::string l = req.Query("limit"); !l.empty()) {
    size_t n = 0;
    for (char ch : l) {
      if (ch < '0' || ch > '9' || n > 1000) {
        n = 0;
        break;
      }
      n = n * 10 + static_cast<size_t>(ch - '0');
    }
    if (n < 1 || n > 1000) {
      return InvalidArgumentError("limit must be 1 to 1000", "bad-query");
    }
    page.limit = n;
  }
  return page;
}

Response ListResponse(json::Value items, bool more, const std::string& last_id) {
  json::Value body = json::Value::Object();
  body.Set("items", std::move(items));
  if (more && !last_id.empty()) {
    body.Set("next_after", json::Value::String(last_id));
  }
  return JsonResponse(200, body);
}

}  // namespace mandated::api
