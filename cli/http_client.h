// ApiClient: the HTTP client mandatectl uses to talk to a mandated server (adapter over
// cpp-httplib; no other file of cli/ includes it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret.h"

namespace mandated::cli {

// The largest answer body a buffered request (every call but GetStreamed) holds: beyond it the
// request is given up (kUnavailable, "answer-too-large") instead of growing without end.
inline constexpr uint64_t kMaxAnswerBytes = uint64_t{64} << 20;
// The default for the whole of one request, connection to the last byte of its answer.
inline constexpr int kDefaultTimeoutSeconds = 120;

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
  // `timeout_seconds` bounds each request from its connection to the last byte of its answer
  // (kUnavailable, "timeout", past it): no wait is longer than what is left of it, and the body
  // is given up once it runs past it. (A server sending its head a few bytes at a time is
  // bounded only per read.) 0 is no bound (a stalled read still ends after 30 s).
  ApiClient(std::string server, const SecretBytes& token,
            int timeout_seconds = kDefaultTimeoutSeconds);

  // kUnavailable ("server-unreachable") when no HTTP answer arrives; any HTTP status is OK.
  // kInvalidArgument ("bad-server-url") when the server is not http[s]://HOST[:PORT] with a
  // PORT of 1-65535. kUnavailable ("answer-too-large") for a body over kMaxAnswerBytes,
  // ("timeout") past the timeout, ("answer-incomplete") when the connection closed before the
  // end of a body whose head had arrived.
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
  int timeout_seconds_;
};

}  // namespace mandated::cli
