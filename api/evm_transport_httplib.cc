// Adapter: settlement::JsonRpcTransport over cpp-httplib (specs/evm.md §4.1).
#include "api/evm_transport_httplib.h"

#include <httplib.h>

#include <exception>
#include <utility>

namespace mandated::api {
namespace {

// Splits "scheme://host[:port][/path]" into the part httplib::Client takes and the path.
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const size_t host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const size_t path_start = url.find('/', host_start);
  if (path_start == std::string::npos) {
    return {url, "/"};
  }
  return {url.substr(0, path_start), url.substr(path_start)};
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
    std::tie(origin_, path_) = SplitUrl(url);
  }

  Result<std::string> Post(const std::string& body) override {
    try {
      httplib::Client c(origin_);
      const time_t sec = static_cast<time_t>(timeout_ms_ / 1000);
      const time_t usec = static_cast<time_t>((timeout_ms_ % 1000) * 1000);
      c.set_connection_timeout(sec, usec);
      c.set_read_timeout(sec, usec);
      c.set_write_timeout(sec, usec);
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
  std::string path_;
  int64_t timeout_ms_;
};

}  // namespace

std::unique_ptr<settlement::JsonRpcTransport> MakeHttpJsonRpcTransport(const std::string& url,
                                                                       int64_t timeout_ms) {
  return std::make_unique<HttpJsonRpcTransport>(url, timeout_ms);
}

}  // namespace mandated::api
