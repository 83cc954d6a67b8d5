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

// Thread safety: immutable after construction; each Post opens its own client.
class HttpJsonRpcTransport final : public settlement::JsonRpcTransport {
 public:
  HttpJsonRpcTransport(const std::string& url, int64_t timeout_ms)
      : url_(url), timeout_ms_(timeout_ms) {
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
      return InvalidArgumentError(std::string("bad JSON-RPC URL: ") + e.what(), "bad-rpc-url");
    }
  }

 private:
  std::string url_;
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
