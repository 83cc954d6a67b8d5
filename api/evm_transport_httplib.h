// The JSON-RPC transport of the evm settlement backend over HTTP(S) with cpp-httplib
// (specs/evm.md §4.1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "settlement/evm_rpc.h"

namespace mandated::api {

// POSTs JSON-RPC bodies to `url` ("http://[user[:password]@]host[:port][/path][?query]"; https
// when httplib was built with TLS; user info is sent as HTTP Basic authentication, a fragment
// never) with `timeout_ms` for connecting and for reading the answer. Each Post uses its own
// connection, so the transport is safe from any thread. No answer, or an HTTP status other than
// 200, is kUnavailable (reason "rpc-unreachable"); a URL httplib cannot use is kInvalidArgument
// ("bad-rpc-url") at the first Post.
// `url` as messages and logs may show it: scheme, host and port (no user info, path or query,
// where node providers put API keys).
std::string RedactedUrl(const std::string& url);

std::unique_ptr<settlement::JsonRpcTransport> MakeHttpJsonRpcTransport(const std::string& url,
                                                                       int64_t timeout_ms);

}  // namespace mandated::api
