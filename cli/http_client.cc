// ApiClient over cpp-httplib.
#include "cli/http_client.h"

#include <httplib.h>

#include <functional>
#include <regex>

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

// kInvalidArgument unless `server` is http:// or https:// and a host with an optional port: the
// form httplib parses (it would take anything else for a host name and fail to connect).
Status CheckServer(const std::string& server) {
  // Hosts: a name or IPv4 address, or an IPv6 address in brackets (hex digits, ':' and '.').
  static const std::regex kServer(
      R"((https?)://(\[[0-9A-Fa-f:.]+\]|[^:/?#\[\]@]+)(:[0-9]{1,5})?)");
  if (server.rfind("http://", 0) != 0 && server.rfind("https://", 0) != 0) {
    return InvalidArgumentError("bad server URL \"" + server + "\": use http:// or https://",
                                "bad-server-url");
  }
  if (!std::regex_match(server, kServer)) {
    return InvalidArgumentError(
        "bad server URL \"" + server + "\": want http[s]://HOST[:PORT], without a path",
        "bad-server-url");
  }
  return OkStatus();
}

// Sends one request with the bearer token (if any). httplib throws on a malformed URL; that is
// the only exception it raises here, and it becomes kInvalidArgument.
Result<ApiResponse> Send(
    const std::string& server, const SecretBytes& token,
    const std::function<httplib::Result(httplib::Client&, const httplib::Headers&)>& send) {
  try {
    if (Status s = CheckServer(server); !s.ok()) {
      return s;
    }
    httplib::Client c(server);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    httplib::Headers h;
    // However the request ends (an answer or an exception), our copy of the header is wiped.
    struct WipeHeaders {
      httplib::Headers& h;
      ~WipeHeaders() {
        for (auto& [name, value] : h) SecureWipe(value.data(), value.size());
      }
    } wipe{h};
    if (!token.empty()) {
      // The header is a std::string: this one is wiped after the request; httplib's own copies
      // of it are not.
      std::string bearer;
      bearer.reserve(7 + token.size());  // one buffer: no partial copy is left behind
      bearer.append("Bearer ").append(token.chars());
      h.emplace("Authorization", std::move(bearer));
    }
    return Convert(send(c, h), server);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("bad server URL: ") + e.what(), "bad-server-url");
  }
}

}  // namespace

ApiClient::ApiClient(std::string server, const SecretBytes& token)
    : server_(std::move(server)), token_(token.Clone()) {
  while (!server_.empty() && server_.back() == '/') {
    server_.pop_back();
  }
}

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

Result<ApiResponse> ApiClient::GetStreamed(const std::string& path,
                                           const std::function<bool(std::string_view)>& body) {
  int status = 0;
  std::string error_body;  // a non-2xx answer's body, for the error it reports
  uint64_t received = 0;
  bool refused = false;
  Result<ApiResponse> r = Send(server_, token_, [&](httplib::Client& c, const httplib::Headers& h) {
    return c.Get(
        path.c_str(), h,
        [&status](const httplib::Response& head) {
          status = head.status;
          return true;
        },
        [&](const char* data, size_t n) {
          if (status < 200 || status >= 300) {
            error_body.append(data, n);
            return true;
          }
          received += n;
          if (!body(std::string_view(data, n))) {
            refused = true;
            return false;
          }
          return true;
        });
  });
  if (refused) {
    return UnavailableError("the answer could not be written out", "io");
  }
  if (!r.ok() && status >= 200 && status < 300) {
    return UnavailableError(server_ + " closed the connection after " + std::to_string(received) +
                                " bytes of the answer, before its end",
                            "answer-incomplete");
  }
  if (r.ok() && (r->status < 200 || r->status >= 300)) {
    r->body = std::move(error_body);
  }
  return r;
}

}  // namespace mandated::cli
