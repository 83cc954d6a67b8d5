// Adapter: HttpServer over cpp-httplib 0.11.4. The only file of api/ that includes httplib.
#include "api/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>

#include "api/problem.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/random.h"

namespace mandated::api {
namespace {

// Per-request state carried from the pre-routing hook to the logger. httplib runs the hook, the
// handler and the logger of one request on the same worker thread, one after the other.
struct RequestContext {
  int64_t start_micros = 0;
  std::string request_id;
  std::string route;
  std::vector<std::pair<std::string, std::string>> annotations;
};
thread_local RequestContext t_ctx;

std::string NewRequestId() {
  static const std::string prefix = [] {
    Result<Bytes> b = SystemRandom::Get().Generate(4);
    return b.ok() ? HexEncode(*b) : std::string("00000000");
  }();
  static std::atomic<uint64_t> counter{0};
  char buf[48];
  snprintf(buf, sizeof(buf), "req_%s%012llx", prefix.c_str(),
           static_cast<unsigned long long>(counter.fetch_add(1) + 1));
  return buf;
}

void WriteProblem(httplib::Response& res, const Response& problem) {
  res.status = problem.status;
  res.set_content(problem.body, problem.content_type.c_str());
}

// Asks the client to close after this response. (httplib 0.11 decides keep-alive from the
// request before any hook runs, so it may still read a next request; an unread body then fails
// to parse as one within 8 KiB and the connection closes.)
void CloseAfterResponse(httplib::Response& res) { res.set_header("Connection", "close"); }

std::string ToLower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

}  // namespace

void AnnotateRequestLog(std::string_view key, std::string value) {
  t_ctx.annotations.emplace_back(std::string(key), std::move(value));
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, const Router& router, Metrics& metrics, HttpServer& owner)
      : options_(options), router_(router), metrics_(metrics), owner_(owner) {
    Configure();
  }

  httplib::Server server;

  // httplib 0.11 listens with a backlog of 5, compiled into the library: a burst of new
  // connections overflows it, and a client whose handshake completed while the queue was full
  // can see its first request fail. Listening again on the bound socket raises the backlog
  // (the kernel caps it at net.core.somaxconn).
  void RaiseListenBacklog() {
    if (last_socket_ >= 0) {
      ::listen(last_socket_, options_.listen_backlog);
    }
  }

 private:
  socket_t last_socket_ = -1;

  void Configure() {
    const int workers = options_.worker_threads;
    server.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
    server.set_tcp_nodelay(true);
    // Replaces httplib's default options, which set SO_REUSEPORT: with it a second server could
    // bind the same port and silently take half of the connections. SO_REUSEADDR still allows a
    // restart while old connections sit in TIME_WAIT. The socket is remembered so Bind can raise
    // its listen backlog.
    server.set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      last_socket_ = sock;
    });
    server.set_read_timeout(options_.read_timeout_ms / 1000, (options_.read_timeout_ms % 1000) * 1000);
    server.set_write_timeout(options_.write_timeout_ms / 1000,
                             (options_.write_timeout_ms % 1000) * 1000);
    server.set_keep_alive_timeout(options_.keepalive_timeout_s);
    server.set_keep_alive_max_count(static_cast<size_t>(options_.keepalive_max_requests));
    // Backstop; the pre-routing hook below refuses oversize bodies before any byte is read.
    server.set_payload_max_length(options_.max_body_bytes);

    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      t_ctx.start_micros = SystemClock::Get().MonotonicMicros();
      t_ctx.request_id = NewRequestId();
      t_ctx.route = "unmatched";
      t_ctx.annotations.clear();
      res.set_header("X-Request-Id", t_ctx.request_id);
      if (req.has_header("Transfer-Encoding")) {
        // Chunked bodies have no length to check up front; cpp-httplib 0.11 would buffer them
        // without limit. Refuse them and close the connection.
        WriteProblem(res, ProblemResponse(411, "length-required", "",
                                          "request bodies must carry Content-Length; "
                                          "Transfer-Encoding is not accepted",
                                          req.path, t_ctx.request_id));
        CloseAfterResponse(res);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!req.has_header("Content-Length")) {
        // No body to read: serve it right here. (httplib 0.11 refuses a POST without
        // Content-Length as malformed, which would hide the router's 404/405 answers.)
        Dispatch(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }
      // Bodies over the limit are refused by httplib's payload limit (set above) before they are
      // buffered: it discards them through a small fixed buffer, answers 413 (problem+json via
      // the error handler) and keeps the connection in sync.
      if (owner_.draining()) {
        res.set_header("Connection", "close");
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });

    auto dispatch = [this](const httplib::Request& req, httplib::Response& res) { Dispatch(req, res); };
    server.Get(".*", dispatch);
    server.Post(".*", dispatch);
    server.Put(".*", dispatch);
    server.Patch(".*", dispatch);
    server.Delete(".*", dispatch);
    server.Options(".*", dispatch);

    // Errors raised by httplib itself (malformed request line, 413 backstop, ...) get a problem
    // body too.
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [max_body = options_.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      const int status = res.status;
      std::string detail = "the request could not be processed";
      if (status == 413) {
        detail = "request body exceeds the limit of " + std::to_string(max_body) + " bytes";
      }
      const std::string slug = status == 413 ? "body-too-large"
                               : status == 404 ? "not-found"
                               : status == 400 ? "malformed-request"
                                               : "http-error";
      WriteProblem(res, ProblemResponse(status, slug, "", detail, req.path, t_ctx.request_id));
      return httplib::Server::HandlerResponse::Handled;
    }));

    server.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
          WriteProblem(res, ProblemResponse(500, "internal", "",
                                            "an internal error occurred; quote the request id",
                                            req.path, t_ctx.request_id));
        });

    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const int64_t micros = SystemClock::Get().MonotonicMicros() - t_ctx.start_micros;
      metrics_.ObserveRequest(t_ctx.route, req.method, res.status, micros);
      std::vector<log::Field> fields = {{"request_id", t_ctx.request_id},
                                        {"method", req.method},
                                        {"path", req.path},
                                        {"route", t_ctx.route},
                                        {"status", res.status},
                                        {"duration_us", micros},
                                        {"bytes_in", static_cast<uint64_t>(req.body.size())},
                                        {"bytes_out", static_cast<uint64_t>(res.body.size())},
                                        {"remote", req.remote_addr}};
      for (const auto& [k, v] : t_ctx.annotations) {
        fields.emplace_back(k, v);
      }
      log::Write(log::Level::kInfo, "request", fields);
    });
  }

  void Dispatch(const httplib::Request& hreq, httplib::Response& hres) {
    Request req;
    req.method = hreq.method;
    req.path = hreq.path;
    req.body = hreq.body;
    req.remote_addr = hreq.remote_addr;
    req.request_id = t_ctx.request_id;
    for (const auto& [k, v] : hreq.headers) {
      req.headers.emplace(ToLower(k), v);
    }
    for (const auto& [k, v] : hreq.params) {
      req.query.emplace(k, v);
    }
    Router::Match m = router_.Find(req);
    Response res;
    if (m.handler == nullptr) {
      if (m.path_known) {
        t_ctx.route = m.route;
        res = ProblemResponse(405, "method-not-allowed", "",
                              "method " + req.method + " is not allowed here; allowed: " + m.allowed,
                              req.path, req.request_id);
        res.headers.emplace_back("Allow", m.allowed);
      } else {
        res = ProblemResponse(404, "not-found", "", "no such resource", req.path, req.request_id);
      }
    } else {
      t_ctx.route = m.route;
      try {
        res = (*m.handler)(req);
      } catch (const std::exception& e) {
        log::Error("handler threw", {{"request_id", req.request_id}, {"error", e.what()}});
        res = ProblemResponse(500, "internal", "",
                              "an internal error occurred; quote the request id", req.path,
                              req.request_id);
      }
    }
    hres.status = res.status;
    for (const auto& [k, v] : res.headers) {
      hres.set_header(k.c_str(), v);
    }
    if (owner_.draining()) {
      hres.set_header("Connection", "close");
    }
    hres.set_content(std::move(res.body), res.content_type.c_str());
  }

  HttpServerOptions options_;
  const Router& router_;
  Metrics& metrics_;
  HttpServer& owner_;
};

HttpServer::HttpServer(HttpServerOptions options, const Router& router, Metrics& metrics)
    : impl_(std::make_unique<Impl>(options, router, metrics, *this)) {}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind(const std::string& host, int port) {
  int bound = -1;
  if (port == 0) {
    bound = impl_->server.bind_to_any_port(host);
  } else if (impl_->server.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound > 0) {
    impl_->RaiseListenBacklog();
  }
  if (bound <= 0) {
    return UnavailableError("cannot listen on " + host + ":" + std::to_string(port),
                            "listen-failed");
  }
  return bound;
}

Status HttpServer::Serve() {
  if (!impl_->server.listen_after_bind()) {
    if (draining()) {
      return OkStatus();
    }
    return UnavailableError("HTTP server stopped unexpectedly", "listen-failed");
  }
  return OkStatus();
}

void HttpServer::Stop() {
  draining_.store(true);
  impl_->server.stop();
}

}  // namespace mandated::api
