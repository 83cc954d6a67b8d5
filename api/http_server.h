// HttpServer: serves a Router over HTTP/1.1 with the hardening DESIGN §8 asks of cpp-httplib
// 0.11: body limit checked before the body is read, timeouts, TCP_NODELAY, a sized worker pool,
// problem+json for every error, a request id on every response, one JSON log line per request,
// per-route metrics, and a graceful stop. Also the client address behind trusted reverse
// proxies (specs/api.md §Client address).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/metrics.h"
#include "api/router.h"
#include "base/result.h"

namespace mandated::api {

// An IPv4 or IPv6 network in CIDR form. IPv4 addresses are held as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so an IPv4 peer seen on a dual-stack socket matches an IPv4 network.
// Thread safety: value type.
struct IpNetwork {
  std::array<uint8_t, 16> address{};
  int prefix_bits = 128;  // of the 128-bit form
  bool Contains(const std::array<uint8_t, 16>& a) const;
};

// "CIDR[,CIDR...]" (spaces allowed around entries; a bare address is a /32 or /128 network);
// "" is the empty list. kInvalidArgument ("bad-config") naming the first bad entry.
Result<std::vector<IpNetwork>> ParseTrustedProxies(std::string_view text);

// Which header a trusted proxy reports the client chain in.
enum class ForwardedHeader { kXForwardedFor, kForwarded };

// The address of the client on whose behalf `peer` (the TCP peer) sent a request, by
// specs/api.md §Client address: `peer` itself unless it is in `trusted`; then the right-most
// address of the chain in `header_values` (the values of the chosen header, in the order they
// arrived) that is not in `trusted`. Addresses come back in canonical text form.
std::string ClientAddress(std::string_view peer, const std::vector<std::string>& header_values,
                          ForwardedHeader header, const std::vector<IpNetwork>& trusted);

// The part of a client address that throttling keys on: an IPv4 address whole, an IPv6
// address's /64 (one subscriber's usual allocation: rotating within it is not a new client).
// Text that is no address comes back unchanged.
std::string ThrottleKeyOfAddress(std::string_view address);

struct HttpServerOptions {
  int worker_threads = 64;
  uint64_t max_body_bytes = 64 * 1024;
  uint64_t max_header_bytes = 16 * 1024;  // request line and headers, together
  int read_timeout_ms = 5000;             // per read
  int request_timeout_ms = 10000;         // a whole request, from its first byte
  int write_timeout_ms = 5000;
  int keepalive_timeout_s = 5;
  int keepalive_max_requests = 1000;
  int listen_backlog = 4096;  // connections the kernel queues before the server accepts them
  std::vector<IpNetwork> trusted_proxies;  // empty: forwarding headers are never believed
  ForwardedHeader forwarded_header = ForwardedHeader::kXForwardedFor;
};

// Thread safety: Bind and Serve from one thread; Stop and draining() from any thread.
// Adds a field (principal, credential, session, agent) to the access-log line of the request
// being served on the calling thread. Call only from a route handler.
void AnnotateRequestLog(std::string_view key, std::string value);

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, const Router& router, Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket. Returns the bound port (useful with port 0).
  // kUnavailable ("listen-failed") if the address cannot be bound.
  Result<int> Bind(const std::string& host, int port);

  // Serves until Stop(); returns after in-flight requests have finished.
  Status Serve();

  // Stops accepting connections; in-flight requests complete. Safe from a signal-watching thread.
  void Stop();
  bool draining() const { return draining_.load(); }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> serve_started_{false};
  std::atomic<bool> serve_returned_{false};
};

}  // namespace mandated::api
