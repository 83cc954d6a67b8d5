// ApiClient: the HTTP client mandatectl uses to talk to a mandated server (adapter over
// cpp-httplib; no other file of cli/ includes it).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret.h"

namespace mandated::cli {

struct ApiResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  bool replayed = false;  // "Idempotent-Replayed: true": the first answer to this key again
};

// Thread safety: one instance per thread.
class ApiClient {
 public:
  // `server` is a base URL such as "http://127.0.0.1:8420" (a trailing "/" is dropped);
  // `token` may be empty.
  ApiClient(std::string server, const SecretBytes& token);

  // kUnavailable ("server-unreachable") when no HTTP answer arrives; any HTTP status is OK.
  // kInvalidArgument ("bad-server-url") when the server is not http[s]://HOST[:PORT].
  Result<ApiResponse> Get(const std::string& path);
  // With an `idempotency_key`, sends it as the Idempotency-Key header
  // (specs/authorization.md §6).
  Result<ApiResponse> PostJson(const std::string& path, const std::string& body,
                               const std::string& idempotency_key = "");
  Result<ApiResponse> Delete(const std::string& path);
  // A GET whose 2xx body may be too large to hold (an audit export): it goes to `body` piece by
  // piece as it arrives and the answer's `body` stays empty; any other status is answered as
  // Get does. `body` returning false stops the transfer (kUnavailable, "io"). A 2xx answer cut
  // short (the connection closed before the end of the body) is kUnavailable
  // ("answer-incomplete"), never an answer.
  Result<ApiResponse> GetStreamed(const std::string& path,
                                  const std::function<bool(std::string_view)>& body);

 private:
  std::string server_;
  SecretBytes token_;
};

}  // namespace mandated::cli
