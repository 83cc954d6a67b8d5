// ApiClient over cpp-httplib.
#include "cli/http_client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <regex>

namespace mandated::cli {
namespace {

// kInvalidArgument unless `server` is http:// or https:// and a host with an optional port of
// 1-65535: the form httplib parses (it would take anything else for a host name and fail to
// connect, and a larger port for its value modulo 2^16).
Status CheckServer(const std::string& server) {
  // Hosts: a name or IPv4 address, or an IPv6 address in brackets (hex digits, ':' and '.').
  static const std::regex kServer(
      R"((https?)://(\[[0-9A-Fa-f:.]+\]|[^:/?#\[\]@]+)(:([0-9]{1,5}))?)");
  if (server.rfind("http://", 0) != 0 && server.rfind("https://", 0) != 0) {
    return InvalidArgumentError("bad server URL \"" + server + "\": use http:// or https://",
                                "bad-server-url");
  }
  std::smatch m;
  if (!std::regex_match(server, m, kServer)) {
    return InvalidArgumentError(
        "bad server URL \"" + server + "\": want http[s]://HOST[:PORT], without a path",
        "bad-server-url");
  }
  if (m[4].matched) {
    const long port = std::stol(m[4].str());  // at most five digits
    if (port < 1 || port > 65535) {
      return InvalidArgumentError(
          "bad server URL \"" + server + "\": the port is 1-65535", "bad-server-url");
    }
  }
  return OkStatus();
}

// What one exchange is: the request and where its answer's body goes. `body` is called for the
// pieces of a 2xx answer when given; otherwise (and for every non-2xx answer) the body is held,
// up to kMaxAnswerBytes.
struct Exchange {
  const char* method;
  const std::string& path;
  const std::string* request_body = nullptr;  // sent as application/json
  const std::string* idempotency_key = nullptr;
  const std::function<bool(std::string_view)>* body = nullptr;
};

// Sends one request with the bearer token (if any). httplib throws on a malformed URL; that is
// the only exception it raises here, and it becomes kInvalidArgument.
Result<ApiResponse> Send(const std::string& server, const SecretBytes& token,
                         int timeout_seconds, const Exchange& x) {
  try {
    if (Status s = CheckServer(server); !s.ok()) {
      return s;
    }
    httplib::Client c(server);
    // Each wait is bounded too, by the timeout when it is shorter: a server that accepts and
    // then says nothing is given up at the timeout, not at the 30 s a read may wait.
    const int connect_s = timeout_seconds > 0 ? std::min(5, timeout_seconds) : 5;
    const int read_s = timeout_seconds > 0 ? std::min(30, timeout_seconds) : 30;
    c.set_connection_timeout(connect_s, 0);
    c.set_read_timeout(read_s, 0);
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + std::chrono::seconds(timeout_seconds);
    httplib::Request req;
    // However the request ends (an answer or an exception), our copy of the header is wiped.
    struct WipeHeaders {
      httplib::Headers& h;
      ~WipeHeaders() {
        for (auto& [name, value] : h) SecureWipe(value.data(), value.size());
      }
    } wipe{req.headers};
    req.method = x.method;
    req.path = x.path;
    if (!token.empty()) {
      // The header is a std::string: this one is wiped after the request; httplib's own copies
      // of it are not.
      std::string bearer;
      bearer.reserve(7 + token.size());  // one buffer: no partial copy is left behind
      bearer.append("Bearer ").append(token.chars());
      req.headers.emplace("Authorization", std::move(bearer));
    }
    if (x.idempotency_key != nullptr && !x.idempotency_key->empty()) {
      req.headers.emplace("Idempotency-Key", *x.idempotency_key);
    }
    if (x.request_body != nullptr) {
      req.headers.emplace("Content-Type", "application/json");
      req.body = *x.request_body;
    }
    ApiResponse out;
    bool head_seen = false;
    uint64_t received = 0;
    enum class Stop { kNone, kWriteFailed, kTooLarge, kTimeout } stop = Stop::kNone;
    req.response_handler = [&](const httplib::Response& head) {
      head_seen = true;
      out.status = head.status;
      out.content_type = head.get_header_value("Content-Type");
      out.replayed = head.get_header_value("Idempotent-Replayed") == "true";
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      received += n;
      if (timeout_seconds > 0 && std::chrono::steady_clock::now() > deadline) {
        stop = Stop::kTimeout;
        return false;
      }
      if (x.body != nullptr && out.status >= 200 && out.status < 300) {
        if (!(*x.body)(std::string_view(data, n))) {
          stop = Stop::kWriteFailed;
          return false;
        }
        return true;
      }
      if (out.body.size() + n > kMaxAnswerBytes) {
        stop = Stop::kTooLarge;
        return false;
      }
      out.body.append(data, n);
      return true;
    };
    const httplib::Result r = c.send(req);
    if (stop == Stop::kNone && !r && timeout_seconds > 0 &&
        std::chrono::steady_clock::now() >= deadline) {
      stop = Stop::kTimeout;  // a read that waited out what was left of the timeout
    }
    switch (stop) {
      case Stop::kWriteFailed:
        return UnavailableError("the answer could not be written out", "io");
      case Stop::kTooLarge:
        return UnavailableError(server + " answered with more than " +
                                    std::to_string(kMaxAnswerBytes >> 20) + " MiB; given up",
                                "answer-too-large");
      case Stop::kTimeout:
        return UnavailableError("no whole answer from " + server + " within " +
                                    std::to_string(timeout_seconds) + " s; given up (--timeout)",
                                "timeout");
      case Stop::kNone:
        break;
    }
    if (!r) {
      if (head_seen) {
        return UnavailableError(server + " closed the connection after " +
                                    std::to_string(received) +
                                    " bytes of the answer, before its end",
                                "answer-incomplete");
      }
      return UnavailableError(
          "no answer from " + server + " (" + httplib::to_string(r.error()) + ")",
          "server-unreachable");
    }
    if (!head_seen) {  // httplib calls no response handler for some answers (a 204)
      out.status = r->status;
      out.content_type = r->get_header_value("Content-Type");
      out.replayed = r->get_header_value("Idempotent-Replayed") == "true";
    }
    return out;
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("bad server URL: ") + e.what(), "bad-server-url");
  }
}

}  // namespace

ApiClient::ApiClient(std::string server, const SecretBytes& token, int timeout_seconds)
    : server_(std::move(server)), token_(token.Clone()), timeout_seconds_(timeout_seconds) {
  while (!server_.empty() && server_.back() == '/') {
    server_.pop_back();
  }
}

Result<ApiResponse> ApiClient::Get(const std::string& path) {
  return Send(server_, token_, timeout_seconds_, {.method = "GET", .path = path});
}

Result<ApiResponse> ApiClient::PostJson(const std::string& path, const std::string& body,
                                        const std::string& idempotency_key) {
  return Send(server_, token_, timeout_seconds_,
              {.method = "POST",
               .path = path,
               .request_body = &body,
               .idempotency_key = &idempotency_key});
}

Result<ApiResponse> ApiClient::Delete(const std::string& path) {
  return Send(server_, token_, timeout_seconds_, {.method = "DELETE", .path = path});
}

Result<ApiResponse> ApiClient::GetStreamed(const std::string& path,
                                           const std::function<bool(std::string_view)>& body) {
  return Send(server_, token_, timeout_seconds_,
              {.method = "GET", .path = path, .body = &body});
}

}  // namespace mandated::cli
