// ApiClient over cpp-httplib.
#include "cli/http_client.h"

#include <httplib.h>

#include <functional>

namespace mandated::cli {
namespace {

Result<ApiResponse> Convert(const httplib::Result& r, const std::string& server) {
  if (!r) {
    return UnavailableError("no answer from " + server + " (" + httplib::to_string(r.error()) + ")",
                            "server-unreachable");
  }
  ApiResponse out;
  out.status = r->status;
  out.content_type = r->get_header_value("Content-Type");
  out.body = r->body;
  out.replayed = r->get_header_value("Idempotent-Replayed") == "true";
  return out;
}

// Sends one request with the bearer token (if any). httplib throws on a malformed URL; that is
// the only exception it raises here, and it becomes kInvalidArgument.
Result<ApiResponse> Send(
    const std::string& server, const std::string& token,
    const std::function<httplib::Result(httplib::Client&, const httplib::Headers&)>& send) {
  try {
    httplib::Client c(server);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    httplib::Headers h;
    if (!token.empty()) {
      h.emplace("Authorization", "Bearer " + token);
    }
    return Convert(send(c, h), server);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("bad server URL: ") + e.what(), "bad-server-url");
  }
}

}  // namespace

ApiClient::ApiClient(std::string server, std::string token)
    : server_(std::move(server)), token_(std::move(token)) {}

Result<ApiResponse> ApiClient::Get(const std::string& path) {
  return Send(server_, token_, [&](httplib::Client& c, const httplib::Headers& h) {
    return c.Get(path.c_str(), h);
  });
}

Result<ApiResponse> ApiClient::PostJson(const std::string& path, const std::string& body,
                                        const std::string& idempotency_key) {
  return Send(server_, token_, [&](httplib::Client& c, const httplib::Headers& h) {
    httplib::Headers with = h;
    if (!idempotency_key.empty()) {
      with.emplace("Idempotency-Key", idempotency_key);
    }
    return c.Post(path.c_str(), with, body, "application/json");
  });
}

Result<ApiResponse> ApiClient::Delete(const std::string& path) {
  return Send(server_, token_, [&](httplib::Client& c, const httplib::Headers& h) {
    return c.Delete(path.c_str(), h);
  });
}

}  // namespace mandated::cli
