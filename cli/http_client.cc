// ApiClient over cpp-httplib.
#include "cli/http_client.h"

#include <httplib.h>

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
  return out;
}

httplib::Headers Auth(const std::string& token) {
  httplib::Headers h;
  if (!token.empty()) {
    h.emplace("Authorization", "Bearer " + token);
  }
  return h;
}

}  // namespace

ApiClient::ApiClient(std::string server, std::string token)
    : server_(std::move(server)), token_(std::move(token)) {}

Result<ApiResponse> ApiClient::Get(const std::string& path) {
  try {
    httplib::Client c(server_);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    return Convert(c.Get(path.c_str(), Auth(token_)), server_);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("bad server URL: ") + e.what(), "bad-server-url");
  }
}

Result<ApiResponse> ApiClient::PostJson(const std::string& path, const std::string& body) {
  try {
    httplib::Client c(server_);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    return Convert(c.Post(path.c_str(), Auth(token_), body, "application/json"), server_);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("bad server URL: ") + e.what(), "bad-server-url");
  }
}

}  // namespace mandated::cli
