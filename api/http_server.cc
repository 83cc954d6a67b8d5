// Adapter: HttpServer over cpp-httplib 0.11.4. The only file of api/ that includes httplib.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <thread>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>

#include "api/handler_util.h"
#include "api/problem.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/random.h"
#include "base/secret.h"

namespace mandated::api {
namespace {

// Per-request state carried from the pre-routing hook to the logger. httplib runs the hook, the
// handler and the logger of one request on the same worker thread, one after the other.
struct RequestContext {
  int64_t start_micros = 0;
  std::string request_id;
  std::string route;
  std::string client_addr;  // specs/api.md §Client address
  uint64_t bytes_in = 0;     // the request body's length (the handler takes the body itself)
  uint64_t bytes_out = 0;    // a streamed body's bytes sent (httplib's response holds none)
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

// A request httplib refused before the pre-routing hook ran (a request line or header block
// over the limits) has no context of its own yet: it gets a fresh id and the "unmatched" route,
// never what the worker's previous request left behind.
// `res` (when the answer is not yet sent) gets the X-Request-Id header.
void EnsureRequestContext(httplib::Response* res) {
  if (!t_ctx.request_id.empty()) return;
  t_ctx.request_id = NewRequestId();
  t_ctx.route = "unmatched";
  t_ctx.start_micros = SystemClock::Get().MonotonicMicros();
  if (res != nullptr) res->set_header("X-Request-Id", t_ctx.request_id);
}

void WriteProblem(httplib::Response& res, const Response& problem) {
  res.status = problem.status;
  res.set_content(problem.body, problem.content_type.c_str());
}

// Set by a handler that answers without reading a request body it was sent (413, 411): the
// connection closes after the response instead of reading the body as the next request.
thread_local bool t_close_connection = false;

class GuardedStream;
// The stream of the connection this worker thread serves, for the logger to send the response
// before it logs it.
thread_local GuardedStream* t_stream = nullptr;

// Closes the connection after this response (GuardedServer below ends its loop), so that a body
// left unread is never parsed as a next request.
void CloseAfterResponse(httplib::Response& res) {
  res.set_header("Connection", "close");
  t_close_connection = true;
}

// The method as a metrics label: one of the methods HTTP defines, else "other" (a request line
// that did not parse leaves whatever token the client sent, which must not become a series).
std::string MethodLabel(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
                        "CONNECT"}) {
    if (method == m) return method;
  }
  return "other";
}

// The first header name that is not an RFC 9110 token (a space before the colon, a control
// character), or null. (A line without a colon never gets here: httplib drops it, and it frames
// nothing.) httplib's own pseudo-headers (REMOTE_ADDR, ...)
// are tokens.
const std::string* MalformedHeaderName(const httplib::Headers& headers) {
  static constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
  for (const auto& [name, value] : headers) {
    bool ok = !name.empty();
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      if (!(std::isalnum(u) && u < 0x80) && kTokenPunctuation.find(c) == std::string_view::npos) {
        ok = false;
        break;
      }
    }
    if (!ok) return &name;
  }
  return nullptr;
}

// Whether the path of a raw request target (before any '?') holds "%2F" or "%00", either case,
// or a "%u" escape (which httplib decodes too: "%u002F" is a "/").
bool EncodesSlashOrNul(std::string_view target) {
  target = target.substr(0, target.find('?'));
  for (size_t i = 0; i + 1 < target.size(); ++i) {
    if (target[i] != '%') continue;
    const char hi = static_cast<char>(std::tolower(static_cast<unsigned char>(target[i + 1])));
    if (hi == 'u') return true;
    if (i + 2 >= target.size()) break;
    const char lo = static_cast<char>(std::tolower(static_cast<unsigned char>(target[i + 2])));
    if ((hi == '2' && lo == 'f') || (hi == '0' && lo == '0')) return true;
  }
  return false;
}

std::string ToLower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A numeric IPv4 or IPv6 address, IPv4 as IPv4-mapped IPv6. Nothing else (no names, no ports).
std::optional<std::array<uint8_t, 16>> ParseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  const std::string s(text);
  std::array<uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(&out[12], &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

bool IsV4Mapped(const std::array<uint8_t, 16>& a) {
  for (int i = 0; i < 10; ++i) {
    if (a[i] != 0) return false;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

std::string IpText(const std::array<uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (IsV4Mapped(a)) {
    inet_ntop(AF_INET, &a[12], buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
  }
  return buf;
}

// One node of a forwarding chain: an address, optionally with a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711") and, in Forwarded, quoted.
std::optional<std::array<uint8_t, 16>> ParseNode(std::string_view node) {
  node = Trim(node);
  if (node.size() >= 2 && node.front() == '"' && node.back() == '"') {
    node = node.substr(1, node.size() - 2);
  }
  if (!node.empty() && node.front() == '[') {
    const size_t close = node.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return ParseIp(node.substr(1, close - 1));
  }
  if (std::count(node.begin(), node.end(), ':') == 1) {
    node = node.substr(0, node.find(':'));  // IPv4 with a port
  }
  return ParseIp(node);
}

// The chain of client addresses a header carries, left (farthest) to right (nearest); an entry
// that is not an address (e.g. Forwarded's "unknown" or an obfuscated id) stays as nullopt.
std::vector<std::optional<std::array<uint8_t, 16>>> ForwardingChain(
    const std::vector<std::string>& values, ForwardedHeader header) {
  std::vector<std::optional<std::array<uint8_t, 16>>> chain;
  for (const std::string& value : values) {
    size_t start = 0;
    while (start <= value.size()) {
      const size_t comma = std::min(value.find(',', start), value.size());
      std::string_view element = std::string_view(value).substr(start, comma - start);
      start = comma + 1;
      if (header == ForwardedHeader::kXForwardedFor) {
        chain.push_back(ParseNode(element));
        continue;
      }
      // Forwarded (RFC 7239 §4): pairs separated by ';'; the element's node is its "for".
      std::optional<std::array<uint8_t, 16>> node;
      size_t p = 0;
      while (p <= element.size()) {
        const size_t semi = std::min(element.find(';', p), element.size());
        std::string_view pair = Trim(element.substr(p, semi - p));
        p = semi + 1;
        if (pair.size() > 4 && ToLower(std::string(pair.substr(0, 4))) == "for=") {
          node = ParseNode(pair.substr(4));
        }
      }
      chain.push_back(node);
    }
  }
  return chain;
}

bool Trusted(const std::array<uint8_t, 16>& a, const std::vector<IpNetwork>& trusted) {
  for (const IpNetwork& n : trusted) {
    if (n.Contains(a)) return true;
  }
  return false;
}

// Waits up to timeout_ms for `events` on the socket (EINTR is waited through); true if ready.
bool WaitFor(socket_t sock, short events, int timeout_ms) {
  pollfd p{sock, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

// recv(2) that takes what has already arrived without a poll (under load it usually has) and
// polls, for at most timeout_ms, only an empty socket. Returns recv's result, or -1 with errno
// ETIMEDOUT when nothing came in time.
ssize_t RecvWaiting(socket_t sock, char* buf, size_t size, int timeout_ms) {
  ssize_t n;
  do {
    n = ::recv(sock, buf, size, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n;
  if (!WaitFor(sock, POLLIN, timeout_ms)) {
    errno = ETIMEDOUT;
    return -1;
  }
  do {
    n = ::recv(sock, buf, size, 0);
  } while (n < 0 && errno == EINTR);
  return n;
}

// The numeric address and port of one end of a connected socket (getpeername or getsockname).
template <typename F>
std::pair<std::string, int> Endpoint(socket_t sock, F get) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  if (get(sock, reinterpret_cast<sockaddr*>(&a), &len) != 0) return {};
  char host[NI_MAXHOST] = {};
  char serv[NI_MAXSERV] = {};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&a), len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {};
  }
  return {host, std::atoi(serv)};
}

// One connection's socket as httplib reads and writes it, with the limits httplib 0.11 lacks (its
// line reader buffers a request line or header line of any length, its read timeout is per
// read): each request may read at most `budget` bytes and must arrive whole before an absolute
// deadline; past either, every read fails and httplib drops the connection.
// System calls are what a request costs most on a virtual machine, so the stream saves them:
// a response (httplib writes its head and its body separately, each after a poll) is gathered
// and sent in one send before the request is logged (Flush, from the logger) or when input is
// needed first (an interim 100 Continue); a write that would take the pending bytes past 64 KiB
// sends them and itself at once instead of copying it; received bytes are taken without a poll
// when they are already there; the two addresses httplib asks for on every request are looked
// up once per connection. A streamed body (Response::stream, httplib's chunked content provider)
// goes out through write: pieces gather up to 64 KiB, larger ones are sent at once.
// Thread safety: used by the one worker thread serving the connection.
class GuardedStream final : public httplib::Stream {
 public:
  GuardedStream(socket_t sock, const HttpServerOptions& o)
      : sock_(sock), o_(o), remote_(Endpoint(sock, ::getpeername)),
        local_(Endpoint(sock, ::getsockname)) {}
  // What the connection carried (bearer tokens in, issued tokens out) does not stay behind in
  // freed memory.
  ~GuardedStream() override {
    SecureWipe(buf_, sizeof(buf_));
    SecureWipe(out_.data(), out_.capacity());
  }
  GuardedStream(const GuardedStream&) = delete;
  GuardedStream& operator=(const GuardedStream&) = delete;

  // Starts the next request's byte budget (its request line and headers) and deadline.
  void BeginRequest() {
    budget_ = o_.max_header_bytes;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.request_timeout_ms);
  }
  // The head was read and announced a body of `length` bytes (already checked against
  // max_body_bytes): the budget grows by that much, so the head alone never takes more than
  // max_header_bytes.
  void AllowBody(uint64_t length) { budget_ += length; }
  bool exhausted() const { return exhausted_; }
  // Bytes already received and not yet read (a pipelined next request).
  bool buffered() const { return begin_ < end_; }

  bool is_readable() const override { return begin_ < end_ || Wait(POLLIN, o_.read_timeout_ms); }
  bool is_writable() const override {
    return !write_failed_ && (out_.size() < kOutLimit || Wait(POLLOUT, o_.write_timeout_ms));
  }

  ssize_t read(char* ptr, size_t size) override {
    if (exhausted_) return -1;
    if (begin_ == end_) {
      // Whatever was written is sent before waiting for input it may be the answer to.
      if (!Flush()) {
        exhausted_ = true;
        return -1;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline_ - std::chrono::steady_clock::now()).count();
      if (budget_ == 0 || left <= 0) {
        exhausted_ = true;
        return -1;
      }
      const ssize_t n =
          RecvWaiting(sock_, buf_, std::min<uint64_t>(sizeof(buf_), budget_),
                      static_cast<int>(std::min<int64_t>(left, o_.read_timeout_ms)));
      if (n <= 0) {
        if (n < 0) exhausted_ = true;
        return n;
      }
      budget_ -= static_cast<uint64_t>(n);
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t take = std::min(size, end_ - begin_);
    std::memcpy(ptr, buf_ + begin_, take);
    begin_ += take;
    return static_cast<ssize_t>(take);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (write_failed_) return -1;
    if (out_.size() + size <= kOutLimit) {
      out_.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    if (!Flush() || !SendAll(ptr, size)) return -1;
    return static_cast<ssize_t>(size);
  }

  // Sends everything written so far; false once the connection cannot take it (the client
  // went away or stopped reading for the write timeout).
  bool Flush() {
    const bool sent = SendAll(out_.data(), out_.size());
    out_.clear();
    return sent;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    std::tie(ip, port) = remote_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    std::tie(ip, port) = local_;
  }
  socket_t socket() const override { return sock_; }

 private:
  static constexpr size_t kOutLimit = 64 * 1024;

  bool SendAll(const char* data, size_t size) {
    size_t done = 0;
    while (!write_failed_ && done < size) {
      const ssize_t n = ::send(sock_, data + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        write_failed_ = !Wait(POLLOUT, o_.write_timeout_ms);
      } else {
        write_failed_ = true;
      }
    }
    return !write_failed_;
  }

  bool Wait(short events, int timeout_ms) const { return WaitFor(sock_, events, timeout_ms); }

  socket_t sock_;
  const HttpServerOptions& o_;
  uint64_t budget_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  bool exhausted_ = false;
  bool write_failed_ = false;
  char buf_[64 * 1024];  // httplib reads 4 KiB at a time; a body arrives in fewer, larger recvs
  size_t begin_ = 0;
  size_t end_ = 0;
  std::string out_;  // written, not yet sent; at most kOutLimit bytes
  const std::pair<std::string, int> remote_;  // httplib asks on every request: looked up once
  const std::pair<std::string, int> local_;
};

// httplib's server with its per-connection loop replaced (the base class declares it virtual):
// reads through GuardedStream, closes when a handler asks to, and closes gracefully so an
// early answer (413 before the body) reaches a client still sending.
// Thread safety: as httplib::Server.
class GuardedServer final : public httplib::Server {
 public:
  explicit GuardedServer(const HttpServerOptions& options) : options_(options) {}

 private:
  bool process_and_close_socket(socket_t sock) override {
    int yes = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    GuardedStream strm(sock, options_);
    t_stream = &strm;
    bool ok = false;
    size_t left = keep_alive_max_count_;
    // A new connection's first request may take a read timeout to start; between requests the
    // connection idles for the keep-alive timeout (0: one request per connection).
    std::chrono::milliseconds wait(options_.read_timeout_ms);
    // A connection accepted before a stop is served its request (config.md §Signals: in-flight
    // requests finish), then closed; after a stop no further request is read from it.
    bool first = true;
    while ((first || svr_sock_ != INVALID_SOCKET) && left > 0 &&
           (strm.buffered() || WaitForRequest(sock, wait))) {
      first = false;
      wait = std::chrono::seconds(keep_alive_timeout_sec_);
      strm.BeginRequest();
      t_close_connection = false;
      bool connection_closed = false;
      // The last request a connection serves says so (Connection: close), also when the
      // keep-alive timeout is 0 or the server is stopping, so a proxy does not reuse it.
      ok = process_request(strm,
                           left == 1 || keep_alive_timeout_sec_ == 0 ||
                               svr_sock_ == INVALID_SOCKET,
                           connection_closed, nullptr);
      ok = strm.Flush() && ok;
      if (!ok || connection_closed || t_close_connection || strm.exhausted() ||
          keep_alive_timeout_sec_ == 0) {
        break;
      }
      --left;
    }
    t_stream = nullptr;
    LingeringClose(sock);
    return ok;
  }

  // Waits for the first byte of a next request for at most `wait`, giving up early when the
  // server stops (a request already there is still taken).
  bool WaitForRequest(socket_t sock, std::chrono::milliseconds wait) const {
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now()).count();
      pollfd p{sock, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 100)));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
      if (svr_sock_ == INVALID_SOCKET || std::chrono::steady_clock::now() >= until) return false;
    }
  }

  // Closing a socket with unread input makes the kernel send a reset, which can destroy the
  // response not yet read by the client, or fail the client's write of a body it is still
  // sending (a 413 is answered before the body is read). So: stop sending, then discard input
  // until the client closes its side, goes quiet for 500 ms, 1 s has passed or 4 MiB were
  // discarded. A client still sending a refused body past that (more than 4 MiB beyond what the
  // request read) may see a reset instead of the answer; an endless sender is cut off, and no
  // connection holds its worker more than a second here.
  static void LingeringClose(socket_t sock) {
    ::shutdown(sock, SHUT_WR);
    char sink[16 * 1024];
    size_t drained = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (drained < kLingerBytes) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      const ssize_t n =
          RecvWaiting(sock, sink, sizeof(sink), static_cast<int>(std::min<int64_t>(left, 500)));
      if (n <= 0) break;
      drained += static_cast<size_t>(n);
    }
    ::close(sock);
  }

  static constexpr size_t kLingerBytes = 4 << 20;

  const HttpServerOptions& options_;
};

}  // namespace

bool IpNetwork::Contains(const std::array<uint8_t, 16>& a) const {
  int bits = prefix_bits;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (address[i] & mask)) return false;
  }
  return true;
}

Result<std::vector<IpNetwork>> ParseTrustedProxies(std::string_view text) {
  std::vector<IpNetwork> out;
  if (Trim(text).empty()) {
    return out;
  }
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view entry = Trim(text.substr(start, comma - start));
    start = comma + 1;
    const size_t slash = entry.find('/');
    std::optional<std::array<uint8_t, 16>> a = ParseIp(entry.substr(0, slash));
    const Status bad = InvalidArgumentError(
        "expected an IP address or CIDR network (e.g. 127.0.0.1/32, ::1), got \"" +
            std::string(entry) + "\"",
        "bad-config");
    if (!a.has_value()) {
      return bad;
    }
    IpNetwork n;
    n.address = *a;
    const int family_bits = IsV4Mapped(*a) ? 32 : 128;
    int bits = family_bits;
    if (slash != std::string_view::npos) {
      const std::string_view len = entry.substr(slash + 1);
      auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
      if (ec != std::errc() || p != len.data() + len.size() || len.empty() || bits < 0 ||
          bits > family_bits) {
        return bad;
      }
    }
    n.prefix_bits = bits + (128 - family_bits);
    out.push_back(n);
  }
  return out;
}

std::string ThrottleKeyOfAddress(std::string_view address) {
  std::optional<std::array<uint8_t, 16>> ip = ParseIp(address);
  if (!ip || IsV4Mapped(*ip)) return std::string(address);
  std::fill(ip->begin() + 8, ip->end(), 0);
  return IpText(*ip) + "/64";
}

std::string ClientAddress(std::string_view peer, const std::vector<std::string>& header_values,
                          ForwardedHeader header, const std::vector<IpNetwork>& trusted) {
  const std::optional<std::array<uint8_t, 16>> peer_ip = ParseIp(peer);
  if (!peer_ip.has_value()) {
    return std::string(peer);
  }
  if (!Trusted(*peer_ip, trusted)) {
    return IpText(*peer_ip);
  }
  // The nearest hop that is not a trusted proxy is the client; an entry that is not an address
  // cannot be rate-limited as anyone, so the trusted hop that reported it stands for it.
  std::array<uint8_t, 16> client = *peer_ip;
  const auto chain = ForwardingChain(header_values, header);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!it->has_value()) {
      break;
    }
    client = **it;
    if (!Trusted(client, trusted)) {
      break;
    }
  }
  return IpText(client);
}

void AnnotateRequestLog(std::string_view key, std::string value) {
  t_ctx.annotations.emplace_back(std::string(key), std::move(value));
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, const Router& router, Metrics& metrics, HttpServer& owner)
      : options_(options), router_(router), metrics_(metrics), owner_(owner), server(options_) {
    Configure();
  }

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
    // (The CPPHTTPLIB_* compile-time limits cannot be set here: Debian builds httplib as a shared
    // library, so its parser keeps the values it was compiled with; GuardedStream bounds what a
    // request may make it read instead.)
    server.set_payload_max_length(options_.max_body_bytes);

    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      t_ctx.start_micros = SystemClock::Get().MonotonicMicros();
      t_ctx.request_id = NewRequestId();
      t_ctx.route = "unmatched";
      t_ctx.annotations.clear();
      t_ctx.bytes_in = 0;
      t_ctx.bytes_out = 0;
      t_ctx.client_addr = ClientAddressOf(req);
      res.set_header("X-Request-Id", t_ctx.request_id);
      // No range requests: httplib would cut any answer (an error's problem body too) to the
      // ranges asked for, and build a multipart body of thousands of them in memory.
      const_cast<httplib::Request&>(req).ranges.clear();
      // A request refused before its body is read: the connection closes after the problem, so
      // no body byte left in the socket is ever taken for the next request.
      auto refuse_and_close = [](httplib::Response& r, const httplib::Request& q, int status,
                                 const char* slug, const std::string& detail) {
        WriteProblem(r, ProblemResponse(status, slug, "", detail, q.path, t_ctx.request_id));
        CloseAfterResponse(r);
        return httplib::Server::HandlerResponse::Handled;
      };
      if (req.has_header("Transfer-Encoding")) {
        // Chunked bodies have no length to check up front; cpp-httplib 0.11 would buffer them
        // without limit. Refuse them and close the connection.
        return refuse_and_close(res, req, 411, "length-required",
                                "request bodies must carry Content-Length; "
                                "Transfer-Encoding is not accepted");
      }
      if (const std::string* bad = MalformedHeaderName(req.headers); bad != nullptr) {
        // "Content-Length :" is kept by httplib under another name than Content-Length, so the
        // body it frames would be left in the socket and read as the next request (smuggling
        // past a proxy that reads it otherwise). RFC 9112 §5.1: 400, and the connection closes.
        return refuse_and_close(res, req, 400, "malformed-request",
                                "a header name holds a character outside the token "
                                "characters (RFC 9110 §5.1): \"" + *bad + "\"");
      }
      if (EncodesSlashOrNul(req.target)) {
        // httplib decodes the path before routing: "%2F" would split a segment in two and reach
        // another route, "%00" put a NUL inside an id. No route or id holds either. The body (if
        // any) is unread here: the connection closes, so it is never taken for a request.
        return refuse_and_close(res, req, 400, "malformed-request",
                                "the path may not encode \"/\" or NUL (%2F, %00), "
                                "nor use %u escapes");
      }
      if (req.has_header("Content-Length")) {
        uint64_t length = 0;
        const std::string text = req.get_header_value("Content-Length");
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
        // Two lengths (however equal) are how requests get smuggled past a proxy: refused.
        if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
            req.get_header_value_count("Content-Length") != 1) {
          return refuse_and_close(res, req, 400, "malformed-request",
                                  "Content-Length must appear once, as a decimal length");
        }
        if (length > 0 && req.method != "POST" && req.method != "PUT" && req.method != "PATCH" &&
            req.method != "DELETE") {
          // httplib reads bodies only for these methods: the body of a GET would be left in the
          // socket and parsed as the next request (request smuggling behind a reusing proxy).
          return refuse_and_close(res, req, 400, "malformed-request",
                                  req.method + " requests carry no body");
        }
        if (length > options_.max_body_bytes) {
          // Answered before any byte of the body is read; the connection then closes.
          return refuse_and_close(res, req, 413, "body-too-large",
                                  "request body exceeds the limit of " +
                                      std::to_string(options_.max_body_bytes) + " bytes");
        }
        if (t_stream != nullptr) t_stream->AllowBody(length);
        // The body is read into one buffer of its announced size (up to 1 MiB before a byte of
        // it arrived) instead of one that doubles and copies its way there. (httplib hands the
        // hook a const view of the request its worker owns; only the body's capacity changes.)
        const_cast<httplib::Request&>(req).body.reserve(
            static_cast<size_t>(std::min<uint64_t>(length, uint64_t{1} << 20)));
      }
      if (!req.has_header("Content-Length")) {
        // No body to read: serve it right here. (httplib 0.11 refuses a POST without
        // Content-Length as malformed, which would hide the router's 404/405 answers.)
        Dispatch(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }
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

    // "Expect: 100-continue" is answered before the routing hook runs: a body over the limit is
    // refused there (413, closing), so the client is never invited to send it.
    server.set_expect_100_continue_handler(
        [max_body = options_.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
          uint64_t length = 0;
          const std::string text = req.get_header_value("Content-Length");
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
          if (ec != std::errc() || end != text.data() + text.size() || length <= max_body) {
            return 100;  // the routing hook judges anything else
          }
          EnsureRequestContext(&res);
          WriteProblem(res, ProblemResponse(413, "body-too-large", "",
                                            "request body exceeds the limit of " +
                                                std::to_string(max_body) + " bytes",
                                            req.path, t_ctx.request_id));
          CloseAfterResponse(res);
          return 413;
        });

    // Errors raised by httplib itself (malformed request line, 413 backstop, ...) get a problem
    // body too.
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [max_body = options_.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
      EnsureRequestContext(&res);
      if (!res.body.empty()) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      // An error httplib raised itself (a request line or header it could not parse, a URI too
      // long): where that request ended is unknown, so nothing after it on this connection is
      // read as a request (it could be a body smuggled past a proxy as one).
      CloseAfterResponse(res);
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
          EnsureRequestContext(&res);
          WriteProblem(res, ProblemResponse(500, "internal", "",
                                            "an internal error occurred; quote the request id",
                                            req.path, t_ctx.request_id));
        });

    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      // httplib logs once the response is written: it goes out now, and its time counts.
      if (t_stream != nullptr) t_stream->Flush();
      EnsureRequestContext(nullptr);  // the answer is already sent
      const int64_t micros = SystemClock::Get().MonotonicMicros() - t_ctx.start_micros;
      metrics_.ObserveRequest(t_ctx.route, MethodLabel(req.method), res.status, micros);
      std::vector<log::Field> fields = {{"request_id", t_ctx.request_id},
                                        {"method", req.method},
                                        {"path", req.path},
                                        {"route", t_ctx.route},
                                        {"status", res.status},
                                        {"duration_us", micros},
                                        {"bytes_in", std::max<uint64_t>(t_ctx.bytes_in,
                                                                        req.body.size())},
                                        {"bytes_out", std::max<uint64_t>(t_ctx.bytes_out,
                                                                         res.body.size())},
                                        {"remote", t_ctx.client_addr.empty()
                                                       ? req.remote_addr
                                                       : t_ctx.client_addr}};
      if (!t_ctx.client_addr.empty() && t_ctx.client_addr != req.remote_addr) {
        fields.emplace_back("peer", req.remote_addr);  // the trusted proxy that forwarded it
      }
      t_ctx.client_addr.clear();
      t_ctx.bytes_in = 0;  // a request refused before the hook ran must not show this one's
      t_ctx.bytes_out = 0;
      for (const auto& [k, v] : t_ctx.annotations) {
        fields.emplace_back(k, v);
      }
      log::Write(log::Level::kInfo, "request", fields);
      // Nothing of this request may be taken for the next one on this worker.
      t_ctx.request_id.clear();
      t_ctx.annotations.clear();
    });
  }

  // The client address of `req` (specs/api.md §Client address): the TCP peer, or behind a
  // trusted proxy the nearest untrusted address of the configured forwarding header.
  std::string ClientAddressOf(const httplib::Request& req) const {
    if (options_.trusted_proxies.empty()) {
      return req.remote_addr;
    }
    const char* name =
        options_.forwarded_header == ForwardedHeader::kForwarded ? "Forwarded" : "X-Forwarded-For";
    std::vector<std::string> values;
    auto [first, last] = req.headers.equal_range(name);
    for (auto it = first; it != last; ++it) {
      values.push_back(it->second);
    }
    return ClientAddress(req.remote_addr, values, options_.forwarded_header,
                         options_.trusted_proxies);
  }

  void Dispatch(const httplib::Request& hreq, httplib::Response& hres) {
    Request req;
    req.method = hreq.method;
    req.path = hreq.path;
    // Taken, not copied (a usage batch is megabytes): httplib's request object is its worker's
    // own, and nothing reads its body after the handler (the logger reads t_ctx.bytes_in).
    t_ctx.bytes_in = hreq.body.size();
    req.body = std::move(const_cast<httplib::Request&>(hreq).body);
    req.remote_addr = t_ctx.client_addr;
    req.request_id = t_ctx.request_id;
    for (const auto& [k, v] : hreq.headers) {
      std::string name = ToLower(k);
      // httplib 0.11 files the peer address as pseudo-headers next to any a client sent under
      // the same names (CVE-2025-66570); handlers read Request::remote_addr instead.
      if (name == "remote_addr" || name == "remote_port") {
        continue;
      }
      if (name == "authorization") {
        // A bearer token: taken, not copied (httplib's request is its worker's own), and what
        // is left of httplib's string wiped; the guard wipes ours once it has checked it.
        std::string& secret = const_cast<std::string&>(v);
        req.headers.emplace(std::move(name), std::move(secret));
        SecureWipe(secret.data(), secret.capacity());
        continue;
      }
      req.headers.emplace(std::move(name), v);
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
    // Routes without the guard (public ones, unknown paths) do not wipe a token sent anyway.
    WipeAuthorization(req);
    hres.status = res.status;
    for (const auto& [k, v] : res.headers) {
      hres.set_header(k.c_str(), v);
    }
    if (owner_.draining()) {
      hres.set_header("Connection", "close");
    }
    if (!res.stream) {
      hres.set_content(std::move(res.body), res.content_type.c_str());
      return;
    }
    // Streamed (the whole-log audit export): httplib calls the provider once, after the head;
    // every piece goes out through GuardedStream::write, so the write timeout still holds. A
    // stop (draining) ends the stream at the next piece, so shutdown never waits for a long
    // export; the provider runs outside the handler's try, so it catches for itself.
    t_ctx.bytes_out = 0;
    hres.set_chunked_content_provider(
        res.content_type,
        [head = std::move(res.body), stream = std::move(res.stream), &owner = owner_](
            size_t, httplib::DataSink& sink) {
          const BodyWriter write = [&sink, &owner](std::string_view bytes) {
            if (owner.draining() || !sink.write(bytes.data(), bytes.size())) return false;
            t_ctx.bytes_out += bytes.size();
            return true;
          };
          try {
            if (!head.empty() && !write(head)) return false;
            if (!stream(write)) return false;  // no last chunk: the client sees the body cut short
          } catch (const std::exception& e) {
            log::Error("streamed answer threw",
                       {{"request_id", t_ctx.request_id}, {"error", e.what()}});
            return false;
          }
          sink.done();
          return true;
        });
  }

  HttpServerOptions options_;
  const Router& router_;
  Metrics& metrics_;
  HttpServer& owner_;

 public:
  GuardedServer server;  // after options_, which it reads
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
  serve_started_.store(true);
  struct Returned {
    std::atomic<bool>& flag;
    ~Returned() { flag.store(true); }
  } returned{serve_returned_};
  if (draining()) {
    return OkStatus();  // stopped before serving began
  }
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
  // httplib's stop() acts only on a server whose accept loop runs: a stop between Serve's start
  // and that loop (a SIGTERM right after the listening line) would be lost and Serve would run
  // on. Serve sees draining_ if it has not started; once it has, wait until its loop runs (or
  // it returned), then stop it.
  if (serve_started_.load()) {
    for (int i = 0; i < 10000 && !impl_->server.is_running() && !serve_returned_.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  impl_->server.stop();
}

}  // namespace mandated::api
