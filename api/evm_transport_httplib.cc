// Adapter: settlement::JsonRpcTransport over cpp-httplib (specs/evm.md §4.1).
#include "api/evm_transport_httplib.h"

#include <httplib.h>

#include <exception>
#include <optional>
#include <string_view>
#include <utility>

namespace mandated::api {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1 percent-decoding of a user-info part ("%3A" in a password is ':').
std::string PercentDecoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// "scheme://[user[:password]@]host[:port][/path][?query][#fragment]" as httplib takes it: the
// origin for httplib::Client, the request target (path and query; "/" when the URL has no path,
// so "https://host?apikey=K" asks "/?apikey=K"), and the user info for HTTP Basic
// authentication, as node providers that carry a secret there expect. The fragment is never
// sent (RFC 3986 §3.5).
struct SplitUrl {
  std::string origin;
  std::string target = "/";
  std::optional<std::pair<std::string, std::string>> basic_auth;
};

SplitUrl Split(const std::string& url) {
  SplitUrl out;
  const size_t scheme_end = url.find("://");
  const size_t host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const size_t fragment = url.find('#', host_start);
  const std::string_view rest = std::string_view(url).substr(
      0, fragment == std::string::npos ? url.size() : fragment);
  size_t authority_end = rest.find_first_of("/?", host_start);
  if (authority_end == std::string::npos) authority_end = rest.size();
  std::string_view authority = rest.substr(host_start, authority_end - host_start);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = authority.substr(0, at);
    const size_t colon = info.find(':');
    out.basic_auth.emplace(PercentDecoded(info.substr(0, colon)),
                           colon == std::string_view::npos ? std::string()
                                                           : PercentDecoded(info.substr(colon + 1)));
    authority = authority.substr(at + 1);
  }
  out.origin = url.substr(0, host_start) + std::string(authority);
  const std::string_view target = rest.substr(authority_end);
  if (!target.empty()) out.target = (target[0] == '?' ? "/" : "") + std::string(target);
  return out;
}

}  // namespace

// Errors show the node this way: they reach merchants (an x402 verify's invalidMessage) and logs.
std::string RedactedUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const size_t host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  size_t host_end = url.find_first_of("/?#", host_start);
  if (host_end == std::string::npos) host_end = url.size();
  std::string authority = url.substr(host_start, host_end - host_start);
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);
  }
  return url.substr(0, host_start) + authority;
}

namespace {

// Thread safety: immutable after construction; each Post opens its own client.
class HttpJsonRpcTransport final : public settlement::JsonRpcTransport {
 public:
  HttpJsonRpcTransport(const std::string& url, int64_t timeout_ms)
      : url_(RedactedUrl(url)), timeout_ms_(timeout_ms) {
    SplitUrl split = Split(url);
    origin_ = std::move(split.origin);
    path_ = std::move(split.target);
    basic_auth_ = std::move(split.basic_auth);
  }

  Result<std::string> Post(const std::string& body) override {
    try {
      httplib::Client c(origin_);
      const time_t sec = static_cast<time_t>(timeout_ms_ / 1000);
      const time_t usec = static_cast<time_t>((timeout_ms_ % 1000) * 1000);
      c.set_connection_timeout(sec, usec);
      c.set_read_timeout(sec, usec);
      c.set_write_timeout(sec, usec);
      if (basic_auth_) c.set_basic_auth(basic_auth_->first, basic_auth_->second);
      httplib::Result r = c.Post(path_.c_str(), body, "application/json");
      if (!r) {
        return UnavailableError(
            "no answer from " + url_ + " (" + httplib::to_string(r.error()) + ")",
            "rpc-unreachable");
      }
      if (r->status != 200) {
        return UnavailableError(url_ + " answered HTTP " + std::to_string(r->status),
                                "rpc-unreachable");
      }
      return r->body;
    } catch (const std::exception& e) {
      return InvalidArgumentError("bad JSON-RPC URL " + url_ + ": " + e.what(), "bad-rpc-url");
    }
  }

 private:
  std::string url_;  // redacted, for messages
  std::string origin_;
  std::string path_;  // the request target: path and query
  std::optional<std::pair<std::string, std::string>> basic_auth_;  // user, password
  int64_t timeout_ms_;
};

}  // namespace

std::unique_ptr<settlement::JsonRpcTransport> MakeHttpJsonRpcTransport(const std::string& url,
                                                                       int64_t timeout_ms) {
  return std::make_unique<HttpJsonRpcTransport>(url, timeout_ms);
}

}  // namespace mandated::api
