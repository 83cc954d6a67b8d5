// HttpServer: serves a Router over HTTP/1.1 with the hardening DESIGN §8 asks of cpp-httplib
// 0.11: body limit checked before the body is read, timeouts, TCP_NODELAY, a sized worker pool,
// problem+json for every error, a request id on every response, one JSON log line per request,
// per-route metrics, and a graceful stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "api/metrics.h"
#include "api/router.h"
#include "base/result.h"

namespace mandated::api {

struct HttpServerOptions {
  int worker_threads = 64;
  uint64_t max_body_bytes = 64 * 1024;
  int read_timeout_ms = 5000;
  int write_timeout_ms = 5000;
  int keepalive_timeout_s = 5;
  int keepalive_max_requests = 1000;
  int listen_backlog = 4096;  // connections the kernel queues before the server accepts them
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
};

}  // namespace mandated::api
