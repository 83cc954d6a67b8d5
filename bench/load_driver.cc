// load_driver: an HTTP/1.1 load generator for benchmarking the server over loopback
// (DESIGN §7, bench/load.sh). It keeps N keep-alive connections to one server, sends a request
// described on the command line on each of them, either flat out (closed loop: the next request
// leaves as soon as the previous answer is read) or at a fixed total rate (open loop: request k
// of connection c is due at start + (k * N + c) / rate, whether or not the server kept up, and
// its latency counts from that due time, so a slow server is not excused by the driver waiting:
// no coordinated omission). After a warm-up it measures for a duration or a request count and
// prints one JSON object on stdout.
//
// Plain POSIX sockets and epoll: each of --threads threads owns a share of the connections and
// runs one event loop, with a timerfd for the open-loop schedule. Responses are parsed for the
// status, Content-Length or chunked bodies and Connection: close (the driver reconnects and counts
// it). Latencies go to a log-bucketed histogram (HDR-style, 256 sub-buckets per power of two:
// every recorded value is within 0.4% of its bucket's reported value); `--self-test` checks it.
//
// Usage: load_driver --port P [--host 127.0.0.1] [--scenario NAME] [--connections N]
//          [--threads T] [--rate R] [--duration S | --requests N] [--warmup S] [--timeout-ms MS]
//          [--method GET] [--path /healthz] [--header 'K: V']... [--body-file F]
//          [--tokens-file F] [--expect-status 201] [--expect-body-contains TEXT]
//          [--items-file F] [--record-ids F]
//        load_driver --self-test
// In the path, headers and body, `{seq}` becomes a number unique to each request of the run,
// `{conn}` the connection's index and `{item}` line (seq mod lines) of --items-file (ids made
// by an earlier run, e.g. the authorizations a capture run captures). Each line of
// --tokens-file is a bearer token; connection c sends `Authorization: Bearer <line c mod lines>`.
// --record-ids writes the first "id" member of every 2xx answer (warm-up included), one a line.
// Answers marked `Idempotent-Replayed: true` are counted in the output's mismatches ("replayed"):
// a measured step must send keys no earlier step used, or it measures replays, not new work.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace mandated::bench {
namespace {

int64_t NowNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// ---- Histogram ----

// Log-bucketed histogram of non-negative integers (nanoseconds here). Values below 2^kSubBits
// have a bucket each; above, each power of two is split into 2^kSubBits equal buckets, so a
// bucket's width is at most 1/2^kSubBits of its lower bound. Not thread-safe: one per thread,
// merged at the end.
class Histogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr int kMaxBits = 44;  // values up to 2^44 ns (about 4.9 hours); larger clamp

  Histogram() : counts_(BucketCount(), 0) {}

  void Record(uint64_t v) {
    if (v >= (uint64_t{1} << kMaxBits)) {
      v = (uint64_t{1} << kMaxBits) - 1;
    }
    ++counts_[Index(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
  }

  void Merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) {
      counts_[i] += o.counts_[i];
    }
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return count_ == 0 ? 0 : max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

  // The value at percentile p (0 < p <= 100) by nearest rank: the smallest recorded value v with
  // at least ceil(p/100 * count) values <= v, reported as its bucket's upper bound (never above
  // the largest recorded value). 0 when empty.
  uint64_t Percentile(double p) const {
    if (count_ == 0) {
      return 0;
    }
    uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::min(UpperBound(i), max_);
      }
    }
    return max_;
  }

  static size_t Index(uint64_t v) {
    if (v < kSub) {
      return static_cast<size_t>(v);
    }
    const int high = 63 - std::countl_zero(v);  // >= kSubBits
    const int shift = high - kSubBits;
    const uint64_t mantissa = v >> shift;  // in [kSub, 2 kSub)
    return static_cast<size_t>((static_cast<uint64_t>(shift) + 1) * kSub + (mantissa - kSub));
  }
  static uint64_t LowerBound(size_t index) {
    if (index < kSub) {
      return index;
    }
    const uint64_t shift = index / kSub - 1;
    const uint64_t mantissa = index % kSub + kSub;
    return mantissa << shift;
  }
  static uint64_t UpperBound(size_t index) {
    if (index < kSub) {
      return index;
    }
    const uint64_t shift = index / kSub - 1;
    return LowerBound(index) + (uint64_t{1} << shift) - 1;
  }

 private:
  static size_t BucketCount() { return Index((uint64_t{1} << kMaxBits) - 1) + 1; }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

// ---- Options ----

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string scenario = "custom";
  int connections = 1;
  int threads = 1;
  double rate = 0;  // total requests per second; 0 = flat out
  double duration_s = 10;
  uint64_t requests = 0;  // when > 0, stop after this many measured requests instead
  double warmup_s = 2;
  int timeout_ms = 10000;
  std::string method = "GET";
  std::string path = "/healthz";
  std::vector<std::string> headers;
  std::string body;
  bool has_body = false;
  std::vector<std::string> tokens;
  int expect_status = 0;
  std::string expect_body;
  std::vector<std::string> items;  // --items-file lines, for {item}
  std::string record_ids;          // --record-ids file, or empty
  bool self_test = false;
};

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// Appends the non-empty lines of a file (trailing blanks and CRs dropped).
bool ReadLines(const std::string& path, std::vector<std::string>& out) {
  std::string text;
  if (!ReadFile(path, text)) {
    fprintf(stderr, "load_driver: cannot read %s\n", path.c_str());
    return false;
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
      line.pop_back();
    }
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return true;
}

template <typename T>
bool ParseNumber(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && p == end && !text.empty();
}

void Usage() {
  fprintf(stderr,
          "usage: load_driver --port P [--host H] [--scenario NAME] [--connections N] "
          "[--threads T]\n"
          "         [--rate REQ_PER_S] [--duration S | --requests N] [--warmup S] "
          "[--timeout-ms MS]\n"
          "         [--method M] [--path P] [--header 'K: V']... [--body-file F] "
          "[--tokens-file F]\n"
          "         [--expect-status CODE] [--expect-body-contains TEXT]\n"
          "         [--items-file F] [--record-ids F]\n"
          "       load_driver --self-test\n"
          "{seq} (unique per request), {conn} (connection index) and {item} (line seq mod n\n"
          "of --items-file) are substituted in the path, headers and body. Prints one JSON\n"
          "object on stdout.\n");
}

// Returns false (after printing why) on a bad command line.
bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--self-test") {
      o.self_test = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      return false;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "load_driver: %s needs a value\n", arg.c_str());
      return false;
    }
    const std::string v = argv[++i];
    bool ok = true;
    if (arg == "--host") {
      o.host = v;
    } else if (arg == "--port") {
      ok = ParseNumber(v, o.port) && o.port > 0 && o.port < 65536;
    } else if (arg == "--scenario") {
      o.scenario = v;
    } else if (arg == "--connections") {
      ok = ParseNumber(v, o.connections) && o.connections >= 1 && o.connections <= 10000;
    } else if (arg == "--threads") {
      ok = ParseNumber(v, o.threads) && o.threads >= 1 && o.threads <= 256;
    } else if (arg == "--rate") {
      // At most 10^7 a second: a finite rate the open loop can space out in nanoseconds.
      ok = ParseNumber(v, o.rate) && std::isfinite(o.rate) && o.rate >= 0 && o.rate <= 1e7;
    } else if (arg == "--duration") {
      ok = ParseNumber(v, o.duration_s) && o.duration_s > 0;
    } else if (arg == "--requests") {
      ok = ParseNumber(v, o.requests) && o.requests > 0;
    } else if (arg == "--warmup") {
      ok = ParseNumber(v, o.warmup_s) && o.warmup_s >= 0;
    } else if (arg == "--timeout-ms") {
      ok = ParseNumber(v, o.timeout_ms) && o.timeout_ms > 0;
    } else if (arg == "--method") {
      o.method = v;
      ok = !v.empty() && v.find_first_of(" \r\n") == std::string::npos;
    } else if (arg == "--path") {
      o.path = v;
      ok = !v.empty() && v[0] == '/' && v.find_first_of(" \r\n") == std::string::npos;
    } else if (arg == "--header") {
      ok = v.find(':') != std::string::npos && v.find_first_of("\r\n") == std::string::npos;
      o.headers.push_back(v);
    } else if (arg == "--body-file") {
      if (!ReadFile(v, o.body)) {
        fprintf(stderr, "load_driver: cannot read %s\n", v.c_str());
        return false;
      }
      o.has_body = true;
    } else if (arg == "--tokens-file" || arg == "--items-file") {
      std::vector<std::string>& into = arg == "--tokens-file" ? o.tokens : o.items;
      if (!ReadLines(v, into)) {
        return false;
      }
      ok = !into.empty();
    } else if (arg == "--record-ids") {
      o.record_ids = v;
    } else if (arg == "--expect-status") {
      ok = ParseNumber(v, o.expect_status) && o.expect_status >= 100 && o.expect_status < 600;
    } else if (arg == "--expect-body-contains") {
      o.expect_body = v;
    } else {
      fprintf(stderr, "load_driver: unknown flag %s\n", arg.c_str());
      return false;
    }
    if (!ok) {
      fprintf(stderr, "load_driver: bad value for %s: %s\n", arg.c_str(), v.c_str());
      return false;
    }
  }
  if (!o.self_test && o.port == 0) {
    fprintf(stderr, "load_driver: --port is required\n");
    return false;
  }
  o.threads = std::min(o.threads, o.connections);
  return true;
}

// ---- Request templates ----

// A text with `{seq}`, `{conn}` and `{item}` placeholders, split once into pieces.
class Template {
 public:
  Template(std::string_view text, const std::vector<std::string>& items) : items_(items) {
    std::string literal;
    size_t i = 0;
    while (i < text.size()) {
      if (text.compare(i, 5, "{seq}") == 0) {
        pieces_.push_back({kLiteral, std::move(literal)});
        literal.clear();
        pieces_.push_back({kSeq, ""});
        has_seq_ = true;
        i += 5;
      } else if (text.compare(i, 6, "{item}") == 0) {
        pieces_.push_back({kLiteral, std::move(literal)});
        literal.clear();
        pieces_.push_back({kItem, ""});
        has_seq_ = true;
        i += 6;
      } else if (text.compare(i, 6, "{conn}") == 0) {
        pieces_.push_back({kLiteral, std::move(literal)});
        literal.clear();
        pieces_.push_back({kConn, ""});
        i += 6;
      } else {
        literal += text[i++];
      }
    }
    pieces_.push_back({kLiteral, std::move(literal)});
  }

  bool has_seq() const { return has_seq_; }

  void AppendTo(std::string& out, uint64_t seq, int conn) const {
    char buf[24];
    for (const Piece& p : pieces_) {
      if (p.kind == kLiteral) {
        out += p.text;
      } else if (p.kind == kItem) {
        out += items_.empty() ? std::string_view() : std::string_view(items_[seq % items_.size()]);
      } else {
        const uint64_t n = p.kind == kSeq ? seq : static_cast<uint64_t>(conn);
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
        out.append(buf, end);
      }
    }
  }

 private:
  enum Kind { kLiteral, kSeq, kConn, kItem };
  struct Piece {
    Kind kind;
    std::string text;
  };
  const std::vector<std::string>& items_;
  std::vector<Piece> pieces_;
  bool has_seq_ = false;
};

// Builds the bytes of one request for a connection: constant per connection unless `{seq}`
// appears somewhere.
class RequestBuilder {
 public:
  explicit RequestBuilder(const Options& o)
      : head_(o.method + " " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" +
                  std::to_string(o.port) + "\r\n" + JoinHeaders(o.headers),
              o.items),
        body_(o.body, o.items),
        has_body_(o.has_body || o.method == "POST" || o.method == "PUT" || o.method == "PATCH") {}

  bool varies() const { return head_.has_seq() || body_.has_seq(); }

  void Build(std::string& out, uint64_t seq, int conn, const std::string& token) const {
    out.clear();
    head_.AppendTo(out, seq, conn);
    if (!token.empty()) {
      out += "Authorization: Bearer ";
      out += token;
      out += "\r\n";
    }
    if (has_body_) {
      std::string body;
      body_.AppendTo(body, seq, conn);
      out += "Content-Length: ";
      out += std::to_string(body.size());
      out += "\r\n\r\n";
      out += body;
    } else {
      out += "\r\n";
    }
  }

 private:
  static std::string JoinHeaders(const std::vector<std::string>& headers) {
    std::string out;
    for (const std::string& h : headers) {
      out += h;
      out += "\r\n";
    }
    return out;
  }

  Template head_;
  Template body_;
  bool has_body_;
};

// ---- Response parsing ----

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

struct ParsedResponse {
  enum State { kIncomplete, kComplete, kMalformed };
  State state = kIncomplete;
  int status = 0;
  size_t consumed = 0;  // bytes of the buffer this response used
  bool close = false;   // Connection: close
  bool replayed = false;  // Idempotent-Replayed: true (an earlier answer, not new work)
  std::string body;     // the body, de-chunked (filled only when wanted)
};

// Parses one response at the start of `buf`. A response to HEAD, 1xx, 204 and 304 has no body;
// otherwise Content-Length or chunked framing (a body delimited by close is treated as
// malformed: the server under test never sends one).
ParsedResponse ParseResponse(std::string_view buf, bool want_body) {
  ParsedResponse r;
  const size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() > 64 * 1024) {
      r.state = ParsedResponse::kMalformed;
    }
    return r;
  }
  std::string_view head = buf.substr(0, head_end);
  const size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      !ParseNumber(status_line.substr(9, 3), r.status)) {
    r.state = ParsedResponse::kMalformed;
    return r;
  }
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool http10 = status_line[7] == '0';
  bool keep_alive_header = false;
  size_t at = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (at < head.size()) {
    size_t eol = head.find("\r\n", at);
    if (eol == std::string_view::npos) {
      eol = head.size();
    }
    std::string_view line = head.substr(at, eol - at);
    at = eol + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      r.state = ParsedResponse::kMalformed;
      return r;
    }
    const std::string_view name = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      uint64_t n = 0;
      if (!ParseNumber(value, n)) {
        r.state = ParsedResponse::kMalformed;
        return r;
      }
      content_length = n;
    } else if (IEquals(name, "transfer-encoding")) {
      chunked = value.size() >= 7 && IEquals(value.substr(value.size() - 7), "chunked");
    } else if (IEquals(name, "idempotent-replayed")) {
      r.replayed = IEquals(value, "true");
    } else if (IEquals(name, "connection")) {
      if (IEquals(value, "close")) {
        r.close = true;
      } else if (IEquals(value, "keep-alive")) {
        keep_alive_header = true;
      }
    }
  }
  if (http10 && !keep_alive_header) {
    r.close = true;
  }
  size_t pos = head_end + 4;
  const bool no_body = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  if (no_body) {
    r.state = ParsedResponse::kComplete;
    r.consumed = pos;
    return r;
  }
  if (chunked) {
    while (true) {
      const size_t eol = buf.find("\r\n", pos);
      if (eol == std::string_view::npos) {
        return r;  // incomplete
      }
      std::string_view size_text = buf.substr(pos, eol - pos);
      if (const size_t semi = size_text.find(';'); semi != std::string_view::npos) {
        size_text = size_text.substr(0, semi);
      }
      uint64_t size = 0;
      auto [p, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size,
                                     16);
      if (ec != std::errc() || p != size_text.data() + size_text.size() || size_text.empty()) {
        r.state = ParsedResponse::kMalformed;
        return r;
      }
      pos = eol + 2;
      if (size == 0) {
        // Trailers (normally none), then an empty line.
        while (true) {
          const size_t tl = buf.find("\r\n", pos);
          if (tl == std::string_view::npos) {
            return r;
          }
          const bool empty = tl == pos;
          pos = tl + 2;
          if (empty) {
            break;
          }
        }
        r.state = ParsedResponse::kComplete;
        r.consumed = pos;
        return r;
      }
      if (buf.size() < pos + size + 2) {
        return r;
      }
      if (want_body) {
        r.body.append(buf.substr(pos, size));
      }
      pos += size + 2;
    }
  }
  if (!content_length.has_value()) {
    r.state = ParsedResponse::kMalformed;
    return r;
  }
  if (buf.size() - pos < *content_length) {
    return r;
  }
  if (want_body) {
    r.body.assign(buf.substr(pos, *content_length));
  }
  r.state = ParsedResponse::kComplete;
  r.consumed = pos + *content_length;
  return r;
}

// ---- The run ----

enum ErrorKind { kConnectError, kClosedError, kTimeoutError, kParseError, kIoError, kErrorKinds };
constexpr std::array<const char*, kErrorKinds> kErrorNames = {"connect", "closed", "timeout",
                                                              "parse", "io"};

struct Stats {
  Histogram latency;
  std::map<int, uint64_t> statuses;
  std::array<uint64_t, kErrorKinds> errors{};
  uint64_t status_mismatches = 0;
  uint64_t body_mismatches = 0;
  uint64_t replayed = 0;        // answers marked Idempotent-Replayed: a step reusing old keys
  uint64_t reconnects = 0;      // connections closed by the server (Connection: close or EOF)
  uint64_t unsent_late = 0;     // open loop: requests due in the window but never sent
  uint64_t pending_at_end = 0;  // requests sent and still unanswered when the run ended
  int64_t oldest_pending_ns = 0;  // how long the oldest of them had been waiting
};

struct Shared {
  const Options* options = nullptr;
  const RequestBuilder* builder = nullptr;
  sockaddr_in addr{};
  int64_t start_ns = 0;          // schedule origin
  int64_t measure_start_ns = 0;  // end of warm-up
  std::atomic<int64_t> end_ns{INT64_MAX};
  std::atomic<uint64_t> seq{0};
  std::atomic<uint64_t> measured{0};  // completed requests inside the window (for --requests)
  std::atomic<bool> stop{false};
};

class Worker {
 public:
  // `fds[i]` is connection conn_ids[i]'s socket, connected beforehand, or -1 (connect here).
  Worker(Shared& shared, const std::vector<int>& conn_ids, const std::vector<int>& fds)
      : sh_(shared), o_(*shared.options) {
    for (size_t i = 0; i < conn_ids.size(); ++i) {
      const int id = conn_ids[i];
      Conn c;
      c.id = id;
      c.fd = fds[i];
      c.base_ns = shared.start_ns;
      if (!o_.tokens.empty()) {
        c.token = o_.tokens[static_cast<size_t>(id) % o_.tokens.size()];
      }
      conns_.push_back(std::move(c));
    }
    interval_ns_ = o_.rate > 0 ? 1e9 * static_cast<double>(o_.connections) / o_.rate : 0;
  }

  Stats& stats() { return stats_; }
  const std::vector<std::string>& recorded_ids() const { return ids_; }

  // Runs the event loop until the shared end time or stop flag. Returns false on a setup failure.
  bool Run() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd_ < 0 || timerfd_ < 0) {
      perror("load_driver: epoll/timerfd");
      return false;
    }
    epoll_event tev{};
    tev.events = EPOLLIN;
    tev.data.u64 = kTimerTag;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &tev) != 0) {
      perror("load_driver: epoll_ctl");
      return false;
    }
    const int64_t now = NowNanos();
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      c.want_ns = now;
      if (c.fd < 0) {
        Connect(i, now);
        continue;
      }
      ++c.gen;
      Watch(i, false, EPOLL_CTL_ADD);
      Ready(i, now);
    }
    std::vector<epoll_event> events(conns_.size() + 1);
    int64_t next_timeout_scan = now + kScanIntervalNs;
    while (!sh_.stop.load(std::memory_order_relaxed)) {
      const int64_t end = sh_.end_ns.load(std::memory_order_relaxed);
      int64_t t = NowNanos();
      if (t >= end) {
        break;
      }
      ArmTimer(std::min({end, next_timeout_scan, NextDue()}));
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno != EINTR) {
        perror("load_driver: epoll_wait");
        return false;
      }
      t = NowNanos();
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[static_cast<size_t>(i)].data.u64;
        if (tag == kTimerTag) {
          uint64_t expirations = 0;
          if (read(timerfd_, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN) {
            perror("load_driver: timerfd read");
          }
          armed_ns_ = 0;
          continue;
        }
        const size_t idx = static_cast<size_t>(tag >> 32);
        const uint32_t gen = static_cast<uint32_t>(tag);
        if (idx >= conns_.size() || conns_[idx].gen != gen || conns_[idx].fd < 0) {
          continue;  // an event of a socket closed earlier in this batch
        }
        OnEvent(idx, events[static_cast<size_t>(i)].events, t);
      }
      SendDue(t);
      if (t >= next_timeout_scan) {
        ScanTimeouts(t);
        next_timeout_scan = t + kScanIntervalNs;
      }
    }
    Finish();
    return true;
  }

 private:
  static constexpr uint64_t kTimerTag = ~uint64_t{0};
  static constexpr int64_t kScanIntervalNs = 50'000'000;

  enum class State { kConnecting, kIdle, kWriting, kReading, kClosed };
  struct Conn {
    int id = 0;
    int fd = -1;
    uint32_t gen = 0;
    State state = State::kClosed;
    std::string token;
    std::string out;       // request bytes
    size_t out_sent = 0;
    std::string in;        // response bytes read so far
    int64_t want_ns = 0;   // latency origin of the current request
    int64_t deadline_ns = 0;
    uint64_t slot = 0;     // open loop: index k of the next request of this connection
    bool queued = false;   // open loop: waiting in the due heap
    int64_t base_ns = 0;   // open loop: origin of the schedule
    bool rebased = false;  // open loop: the warm-up's backlog was dropped (Rebase)
    bool out_valid = false;
    bool watching_out = false;
  };

  // Open loop: at the end of the warm-up a connection drops the slots of its schedule that were
  // due before the measurement began, so one that fell behind while warming up (e.g. waiting for
  // its connection to be accepted) does not carry that backlog into the measurement. The
  // schedule itself keeps its phase: restarting it at the measurement's start would date a
  // connection's next request from a slot it was never due at (it was waiting for its old
  // schedule's next one) and add that wait, up to a whole interval, to the request's latency.
  void Rebase(Conn& c, int64_t now) const {
    if (!c.rebased && now >= sh_.measure_start_ns) {
      c.rebased = true;
      if (interval_ns_ <= 0) return;  // flat out: no schedule
      const int64_t first = DueOf(c, c.slot);
      if (first < sh_.measure_start_ns) {
        c.slot += static_cast<uint64_t>(
            static_cast<double>(sh_.measure_start_ns - first) / interval_ns_);
      }
      while (DueOf(c, c.slot) < sh_.measure_start_ns) {
        ++c.slot;
      }
    }
  }

  int64_t DueOf(const Conn& c, uint64_t slot) const {
    const double offset = static_cast<double>(slot) * interval_ns_ +
                          static_cast<double>(c.id) * interval_ns_ /
                              static_cast<double>(o_.connections);
    return c.base_ns + static_cast<int64_t>(offset);
  }

  int64_t NextDue() const { return due_.empty() ? INT64_MAX : due_.top().first; }

  void ArmTimer(int64_t at_ns) {
    if (at_ns == INT64_MAX || at_ns == armed_ns_) {
      return;
    }
    armed_ns_ = at_ns;
    itimerspec its{};
    if (at_ns <= 0) {
      at_ns = 1;
    }
    its.it_value.tv_sec = at_ns / 1000000000;
    its.it_value.tv_nsec = at_ns % 1000000000;
    if (timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, nullptr) != 0) {
      perror("load_driver: timerfd_settime");
    }
  }

  void Watch(size_t idx, bool out, int op) {
    Conn& c = conns_[idx];
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u);
    ev.data.u64 = (static_cast<uint64_t>(idx) << 32) | c.gen;
    if (epoll_ctl(epfd_, op, c.fd, &ev) != 0) {
      perror("load_driver: epoll_ctl");
    }
    c.watching_out = out;
  }

  void Connect(size_t idx, int64_t now) {
    Conn& c = conns_[idx];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      CountConnectError(now);
      c.state = State::kClosed;
      c.deadline_ns = now + 100'000'000;  // retried by the timeout scan
      return;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++c.gen;
    c.in.clear();
    c.out_sent = 0;
    const int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&sh_.addr), sizeof(sh_.addr));
    if (rc != 0 && errno != EINPROGRESS) {
      CountConnectError(now);
      close(c.fd);
      c.fd = -1;
      c.state = State::kClosed;
      c.deadline_ns = now + 100'000'000;
      return;
    }
    c.state = State::kConnecting;
    c.deadline_ns = now + int64_t{o_.timeout_ms} * 1'000'000;
    Watch(idx, true, EPOLL_CTL_ADD);
  }

  void CloseConn(size_t idx) {
    Conn& c = conns_[idx];
    if (c.fd >= 0) {
      close(c.fd);  // also removes it from the epoll set
      c.fd = -1;
    }
    c.state = State::kClosed;
  }

  // Drops the connection and opens a new one; the pending request (if any) is failed with
  // `error` (or not at all when kErrorKinds) and the connection starts its next one when
  // connected.
  void Reconnect(size_t idx, int64_t now, int error) {
    Conn& c = conns_[idx];
    if (error != kErrorKinds) {
      if (InWindow(now)) {
        ++stats_.errors[static_cast<size_t>(error)];
        CountMeasured();
      }
      RequestDone(c, now);
    }
    CloseConn(idx);
    Connect(idx, now);
  }

  void CountConnectError(int64_t now) {
    if (InWindow(now)) {
      ++stats_.errors[kConnectError];
    }
  }

  bool InWindow(int64_t t) const {
    return t >= sh_.measure_start_ns && t < sh_.end_ns.load(std::memory_order_relaxed);
  }

  void CountMeasured() {
    if (o_.requests > 0 &&
        sh_.measured.fetch_add(1, std::memory_order_relaxed) + 1 >= o_.requests) {
      sh_.end_ns.store(NowNanos(), std::memory_order_relaxed);
      sh_.stop.store(true, std::memory_order_relaxed);
    }
  }

  // The current request is over (answered or failed): set up the next one's origin.
  void RequestDone(Conn& c, int64_t now) {
    c.out_valid = false;
    if (o_.rate > 0) {
      ++c.slot;
    } else {
      c.want_ns = now;
    }
  }

  // The connection is ready for its next request: send it now (flat out, or open loop when due)
  // or queue it until due.
  void Ready(size_t idx, int64_t now) {
    Conn& c = conns_[idx];
    c.state = State::kIdle;
    if (o_.rate > 0) {
      Rebase(c, now);
      const int64_t due = DueOf(c, c.slot);
      if (due > now) {
        if (!c.queued) {
          due_.push({due, idx});
          c.queued = true;
        }
        return;
      }
      c.want_ns = due;
    }
    Send(idx, now);
  }

  void SendDue(int64_t now) {
    while (!due_.empty() && due_.top().first <= now) {
      const size_t idx = due_.top().second;
      due_.pop();
      Conn& c = conns_[idx];
      c.queued = false;
      if (c.state != State::kIdle) {
        continue;  // Ready() queues it again when the connection is back
      }
      Rebase(c, now);
      const int64_t due = DueOf(c, c.slot);
      if (due > now) {
        // A stale entry (the connection was reconnected and sent this slot already).
        due_.push({due, idx});
        c.queued = true;
        continue;
      }
      c.want_ns = due;
      Send(idx, now);
    }
  }

  void Send(size_t idx, int64_t now) {
    Conn& c = conns_[idx];
    if (!c.out_valid || sh_.builder->varies()) {
      sh_.builder->Build(c.out, sh_.seq.fetch_add(1, std::memory_order_relaxed), c.id, c.token);
      c.out_valid = !sh_.builder->varies();
    }
    c.out_sent = 0;
    c.state = State::kWriting;
    c.deadline_ns = now + int64_t{o_.timeout_ms} * 1'000'000;
    Write(idx, now);
  }

  void Write(size_t idx, int64_t now) {
    Conn& c = conns_[idx];
    while (c.out_sent < c.out.size()) {
      const ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                             MSG_NOSIGNAL);
      if (n > 0) {
        c.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.watching_out) {
          Watch(idx, true, EPOLL_CTL_MOD);
        }
        return;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      Reconnect(idx, now, (errno == EPIPE || errno == ECONNRESET) ? kClosedError : kIoError);
      return;
    }
    if (c.watching_out) {
      Watch(idx, false, EPOLL_CTL_MOD);
    }
    c.state = State::kReading;
  }

  void OnEvent(size_t idx, uint32_t events, int64_t now) {
    Conn& c = conns_[idx];
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0 ||
          (events & (EPOLLERR | EPOLLHUP)) != 0) {
        CountConnectError(now);
        CloseConn(idx);
        c.deadline_ns = now + 100'000'000;  // retry after 100 ms (timeout scan)
        return;
      }
      Watch(idx, false, EPOLL_CTL_MOD);
      Ready(idx, now);
      return;
    }
    if ((events & EPOLLOUT) != 0 && c.state == State::kWriting) {
      Write(idx, now);
      if (c.fd < 0 || c.state != State::kReading) {
        return;
      }
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      Read(idx, now);
    }
  }

  void Read(size_t idx, int64_t now) {
    Conn& c = conns_[idx];
    char buf[16384];
    bool eof = false;
    while (true) {
      const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof(buf)) {
          break;
        }
        continue;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      eof = true;  // ECONNRESET and the like
      break;
    }
    if (c.state != State::kReading) {
      // Idle (or mid-write): the server closed the connection or sent something unasked.
      if (eof || !c.in.empty()) {
        ++stats_.reconnects;
        if (c.state == State::kWriting) {
          Reconnect(idx, now, kClosedError);
        } else {
          const bool queued = c.queued;
          CloseConn(idx);
          Connect(idx, now);
          c.queued = queued;
        }
      }
      return;
    }
    if (!c.in.empty()) {
      const bool want_body = !o_.expect_body.empty() || !o_.record_ids.empty();
      ParsedResponse r = ParseResponse(c.in, want_body);
      if (r.state == ParsedResponse::kMalformed) {
        Reconnect(idx, now, kParseError);
        return;
      }
      if (r.state == ParsedResponse::kComplete) {
        Complete(c, r, now);
        const bool leftover = r.consumed < c.in.size();
        c.in.erase(0, r.consumed);
        RequestDone(c, now);
        if (r.close || eof || leftover) {
          if (leftover) {
            ++stats_.errors[kParseError];  // bytes after a response we did not ask for
          }
          ++stats_.reconnects;
          CloseConn(idx);
          Connect(idx, now);
        } else {
          Ready(idx, now);
        }
        return;
      }
    }
    if (eof) {
      ++stats_.reconnects;
      Reconnect(idx, now, kClosedError);
    }
  }

  void Complete(const Conn& c, const ParsedResponse& r, int64_t now) {
    if (!o_.record_ids.empty() && r.status >= 200 && r.status < 300) {
      RecordId(r.body);
    }
    if (!InWindow(now)) {
      return;
    }
    ++stats_.statuses[r.status];
    if (o_.expect_status != 0 && r.status != o_.expect_status) {
      ++stats_.status_mismatches;
    }
    if (!o_.expect_body.empty() && r.body.find(o_.expect_body) == std::string::npos) {
      ++stats_.body_mismatches;
    }
    if (r.replayed) {
      ++stats_.replayed;
    }
    stats_.latency.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - c.want_ns)));
    CountMeasured();
  }

  void ScanTimeouts(int64_t now) {
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      if (c.state == State::kClosed && now >= c.deadline_ns) {
        Connect(i, now);
      } else if ((c.state == State::kConnecting || c.state == State::kWriting ||
                  c.state == State::kReading) &&
                 now >= c.deadline_ns) {
        if (c.state == State::kConnecting) {
          CountConnectError(now);
          CloseConn(i);
          Connect(i, now);
        } else {
          Reconnect(i, now, kTimeoutError);
        }
      }
    }
  }

  void Finish() {
    const int64_t end = sh_.end_ns.load(std::memory_order_relaxed);
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      if (c.state == State::kWriting || c.state == State::kReading) {
        ++stats_.pending_at_end;
        stats_.oldest_pending_ns = std::max(stats_.oldest_pending_ns, end - c.want_ns);
      }
      if (o_.rate > 0) {
        // Requests due inside the window that never got sent (the in-flight one counts too).
        uint64_t slot = c.slot;
        while (DueOf(c, slot) < end) {
          if (DueOf(c, slot) >= sh_.measure_start_ns) {
            ++stats_.unsent_late;
          }
          ++slot;
        }
      }
      CloseConn(i);
    }
    close(timerfd_);
    close(epfd_);
  }

  Shared& sh_;
  const Options& o_;
  std::vector<Conn> conns_;
  double interval_ns_ = 0;
  using Due = std::pair<int64_t, size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  int epfd_ = -1;
  int timerfd_ = -1;
  int64_t armed_ns_ = 0;  // absolute expiry the timer is set to; 0 when it fired
  // The first "id" string member of an answer (ids are plain tokens: no escapes to undo).
  void RecordId(std::string_view body) {
    constexpr std::string_view kKey = "\"id\":\"";
    const size_t at = body.find(kKey);
    if (at == std::string_view::npos) {
      return;
    }
    const size_t from = at + kKey.size();
    const size_t to = body.find('"', from);
    if (to != std::string_view::npos) {
      ids_.emplace_back(body.substr(from, to - from));
    }
  }

  Stats stats_;
  std::vector<std::string> ids_;  // --record-ids
};

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string Micros(uint64_t ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(ns) / 1000.0);
  return buf;
}

// A connected non-blocking TCP socket with TCP_NODELAY, or -1.
int BlockingConnect(const sockaddr_in& addr, int timeout_ms) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int RunLoad(const Options& o) {
  signal(SIGPIPE, SIG_IGN);
  Shared sh;
  sh.options = &o;
  RequestBuilder builder(o);
  sh.builder = &builder;
  sh.addr.sin_family = AF_INET;
  sh.addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &sh.addr.sin_addr) != 1) {
    fprintf(stderr, "load_driver: --host must be an IPv4 address, got %s\n", o.host.c_str());
    return 2;
  }
  // Connect every connection first, one after the other, so the schedule starts with all of them
  // open (a burst of simultaneous connects can overflow a small listen backlog: the handshake then
  // completes only when the server retransmits its SYN-ACK, a second later). One that fails here
  // is retried by its worker.
  std::vector<int> fds(static_cast<size_t>(o.connections), -1);
  for (int& fd : fds) {
    fd = BlockingConnect(sh.addr, o.timeout_ms);
    usleep(500);  // lets the server's accept loop keep up
  }
  sh.start_ns = NowNanos();
  sh.measure_start_ns = sh.start_ns + static_cast<int64_t>(o.warmup_s * 1e9);
  if (o.requests == 0) {
    sh.end_ns.store(sh.measure_start_ns + static_cast<int64_t>(o.duration_s * 1e9));
  }
  std::vector<std::vector<int>> shares(static_cast<size_t>(o.threads));
  std::vector<std::vector<int>> share_fds(static_cast<size_t>(o.threads));
  for (int c = 0; c < o.connections; ++c) {
    shares[static_cast<size_t>(c % o.threads)].push_back(c);
    share_fds[static_cast<size_t>(c % o.threads)].push_back(fds[static_cast<size_t>(c)]);
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t t = 0; t < shares.size(); ++t) {
    workers.push_back(std::make_unique<Worker>(sh, shares[t], share_fds[t]));
  }
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (auto& w : workers) {
    threads.emplace_back([&w, &failed] {
      if (!w->Run()) {
        failed = true;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  if (failed) {
    return 1;
  }
  if (!o.record_ids.empty()) {
    std::ofstream ids(o.record_ids, std::ios::trunc);
    for (auto& w : workers) {
      for (const std::string& id : w->recorded_ids()) {
        ids << id << '\n';
      }
    }
    if (!ids) {
      fprintf(stderr, "load_driver: cannot write %s\n", o.record_ids.c_str());
      return 1;
    }
  }
  Stats total;
  for (auto& w : workers) {
    Stats& s = w->stats();
    total.latency.Merge(s.latency);
    for (const auto& [status, n] : s.statuses) {
      total.statuses[status] += n;
    }
    for (size_t i = 0; i < kErrorKinds; ++i) {
      total.errors[i] += s.errors[i];
    }
    total.status_mismatches += s.status_mismatches;
    total.body_mismatches += s.body_mismatches;
    total.replayed += s.replayed;
    total.reconnects += s.reconnects;
    total.unsent_late += s.unsent_late;
    total.pending_at_end += s.pending_at_end;
    total.oldest_pending_ns = std::max(total.oldest_pending_ns, s.oldest_pending_ns);
  }
  const int64_t end = sh.end_ns.load();
  const double measured_s = static_cast<double>(end - sh.measure_start_ns) / 1e9;
  uint64_t responses = 0;
  for (const auto& [status, n] : total.statuses) {
    responses += n;
  }
  uint64_t errors = 0;
  for (uint64_t e : total.errors) {
    errors += e;
  }
  std::string out = "{\"scenario\":\"" + JsonEscape(o.scenario) + "\"";
  out += ",\"method\":\"" + JsonEscape(o.method) + "\",\"path\":\"" + JsonEscape(o.path) + "\"";
  out += ",\"connections\":" + std::to_string(o.connections);
  out += ",\"threads\":" + std::to_string(o.threads);
  char buf[64];
  snprintf(buf, sizeof(buf), "%.0f", o.rate);
  out += ",\"target_rate\":" + std::string(o.rate > 0 ? buf : "null");
  out += ",\"mode\":\"" + std::string(o.rate > 0 ? "fixed-rate" : "flat-out") + "\"";
  snprintf(buf, sizeof(buf), "%.3f", o.warmup_s);
  out += ",\"warmup_s\":" + std::string(buf);
  snprintf(buf, sizeof(buf), "%.3f", measured_s);
  out += ",\"duration_s\":" + std::string(buf);
  out += ",\"requests\":" + std::to_string(responses + errors - total.errors[kConnectError]);
  out += ",\"responses\":{";
  bool first = true;
  for (const auto& [status, n] : total.statuses) {
    out += (first ? "\"" : ",\"") + std::to_string(status) + "\":" + std::to_string(n);
    first = false;
  }
  out += "},\"errors\":{";
  for (size_t i = 0; i < kErrorKinds; ++i) {
    out += (i == 0 ? "\"" : ",\"") + std::string(kErrorNames[i]) + "\":" +
           std::to_string(total.errors[i]);
  }
  out += "},\"error_count\":" + std::to_string(errors);
  out += ",\"reconnects\":" + std::to_string(total.reconnects);
  if (o.expect_status != 0) {
    out += ",\"expect_status\":" + std::to_string(o.expect_status);
  }
  if (!o.expect_body.empty()) {
    out += ",\"expect_body_contains\":\"" + JsonEscape(o.expect_body) + "\"";
  }
  out += ",\"mismatches\":{\"status\":" + std::to_string(total.status_mismatches) +
         ",\"body\":" + std::to_string(total.body_mismatches) +
         ",\"replayed\":" + std::to_string(total.replayed) + "}";
  if (o.rate > 0) {
    out += ",\"unsent_late\":" + std::to_string(total.unsent_late);
  }
  out += ",\"pending_at_end\":" + std::to_string(total.pending_at_end);
  out += ",\"oldest_pending_us\":" +
         Micros(static_cast<uint64_t>(std::max<int64_t>(0, total.oldest_pending_ns)));
  snprintf(buf, sizeof(buf), "%.1f",
           measured_s > 0 ? static_cast<double>(responses) / measured_s : 0.0);
  out += ",\"throughput_rps\":" + std::string(buf);
  const Histogram& h = total.latency;
  out += ",\"latency_us\":{\"p50\":" + Micros(h.Percentile(50)) +
         ",\"p90\":" + Micros(h.Percentile(90)) + ",\"p99\":" + Micros(h.Percentile(99)) +
         ",\"p99_9\":" + Micros(h.Percentile(99.9)) + ",\"max\":" + Micros(h.max()) +
         ",\"mean\":" + Micros(static_cast<uint64_t>(h.mean())) + "}";
  out += "}\n";
  fputs(out.c_str(), stdout);
  fflush(stdout);
  return 0;
}

// ---- Self-test ----

int failures = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

// The exact nearest-rank percentile of sorted values.
uint64_t ExactPercentile(const std::vector<uint64_t>& sorted, double p) {
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void CheckAgainstExact(const Histogram& h, std::vector<uint64_t> values, const std::string& name) {
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t exact = ExactPercentile(values, p);
    const uint64_t got = h.Percentile(p);
    // The reported value is the upper bound of the exact value's bucket: >= exact, and above it
    // by less than one bucket width (at most exact / 2^kSubBits).
    const bool ok = got >= exact && got - exact <= exact / Histogram::kSub;
    char msg[200];
    snprintf(msg, sizeof(msg), "%s p%g: histogram %llu, exact %llu", name.c_str(), p,
             static_cast<unsigned long long>(got), static_cast<unsigned long long>(exact));
    Check(ok, msg);
  }
  Check(h.max() == values.back(), name + ": max");
  Check(h.min() == values.front(), name + ": min");
  Check(h.count() == values.size(), name + ": count");
}

int SelfTest() {
  // Bucket boundaries: every value maps into a bucket whose bounds contain it, indexes are
  // monotonic and contiguous, and widths stay within 1/2^kSubBits of the lower bound.
  size_t prev = 0;
  for (uint64_t v = 0; v < (uint64_t{1} << 20); ++v) {
    const size_t i = Histogram::Index(v);
    Check(Histogram::LowerBound(i) <= v && v <= Histogram::UpperBound(i),
          "bounds of " + std::to_string(v));
    Check(i == prev || i == prev + 1, "contiguous at " + std::to_string(v));
    prev = i;
    if (failures > 10) {
      return 1;
    }
  }
  for (int bit = 20; bit < Histogram::kMaxBits; ++bit) {
    const uint64_t p = uint64_t{1} << bit;
    for (uint64_t v : {p - 1, p, p + 12345}) {
      const size_t i = Histogram::Index(v);
      Check(Histogram::LowerBound(i) <= v && v <= Histogram::UpperBound(i),
            "bounds of " + std::to_string(v));
      Check(Histogram::UpperBound(i) - Histogram::LowerBound(i) <=
                Histogram::LowerBound(i) / Histogram::kSub,
            "width at " + std::to_string(v));
    }
  }
  // Uniform 1..100000 us in ns: the percentiles are known in closed form.
  {
    Histogram h;
    std::vector<uint64_t> values;
    for (uint64_t us = 1; us <= 100000; ++us) {
      h.Record(us * 1000);
      values.push_back(us * 1000);
    }
    CheckAgainstExact(h, values, "uniform");
    Check(std::llabs(static_cast<long long>(h.Percentile(50)) - 50'000'000) <= 50'000'000 / 256,
          "uniform p50 ~ 50 ms");
    Check(std::llabs(static_cast<long long>(h.Percentile(99.9)) - 99'900'000) <= 99'900'000 / 256,
          "uniform p99.9 ~ 99.9 ms");
  }
  // Log-normal latencies with a heavy tail, recorded in two histograms and merged.
  {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(std::log(300'000.0), 0.8);
    Histogram a;
    Histogram b;
    Histogram merged;
    std::vector<uint64_t> values;
    for (int i = 0; i < 200000; ++i) {
      const uint64_t v = static_cast<uint64_t>(dist(rng)) + (i % 1000 == 0 ? 50'000'000 : 0);
      (i % 2 == 0 ? a : b).Record(v);
      values.push_back(v);
    }
    merged.Merge(a);
    merged.Merge(b);
    CheckAgainstExact(merged, values, "lognormal merged");
  }
  // Small counts: nearest rank with few samples.
  {
    Histogram h;
    for (uint64_t v : {uint64_t{5}, uint64_t{1}, uint64_t{3}, uint64_t{2}, uint64_t{4}}) {
      h.Record(v);
    }
    Check(h.Percentile(50) == 3, "p50 of 1..5 is 3");
    Check(h.Percentile(100) == 5, "p100 of 1..5 is 5");
    Check(h.Percentile(1) == 1, "p1 of 1..5 is 1");
    Histogram empty;
    Check(empty.Percentile(99) == 0 && empty.max() == 0, "empty histogram");
  }
  // Response framing.
  {
    ParsedResponse r = ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true);
    Check(r.state == ParsedResponse::kIncomplete, "incomplete body");
    r = ParseResponse("HTTP/1.1 201 Created\r\ncontent-length: 5\r\nConnection: close\r\n\r\n"
                      "helloHTTP/1.1",
                      true);
    Check(r.state == ParsedResponse::kComplete && r.status == 201 && r.body == "hello" &&
              r.close && r.consumed == 67,
          "content-length body, close, consumed");
    r = ParseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                      true);
    Check(r.state == ParsedResponse::kComplete && r.body == "abcde", "chunked body");
    r = ParseResponse("HTTP/1.1 204 No Content\r\n\r\n", false);
    Check(r.state == ParsedResponse::kComplete && r.status == 204, "204 without body");
    r = ParseResponse("HTTP/1.1 200 OK\r\n\r\n", false);
    Check(r.state == ParsedResponse::kMalformed, "no framing is malformed");
    r = ParseResponse("garbage\r\n\r\n", false);
    Check(r.state == ParsedResponse::kMalformed, "bad status line");
    r = ParseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false);
    Check(r.state == ParsedResponse::kComplete && r.close, "HTTP/1.0 closes");
    r = ParseResponse("HTTP/1.1 201 Created\r\nidempotent-replayed: true\r\n"
                      "Content-Length: 0\r\n\r\n",
                      false);
    Check(r.state == ParsedResponse::kComplete && r.replayed, "replayed answer");
    r = ParseResponse("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false);
    Check(r.state == ParsedResponse::kComplete && !r.replayed, "new answer");
  }
  // Templates.
  {
    const std::vector<std::string> items = {"authz_a", "authz_b", "authz_c"};
    const std::vector<std::string> none;
    Template t("/x/{seq}/{conn}{seq}", none);
    std::string s;
    t.AppendTo(s, 42, 7);
    Check(s == "/x/42/742" && t.has_seq(), "template substitution");
    Template it("/v1/authorizations/{item}/capture", items);
    s.clear();
    it.AppendTo(s, 4, 0);
    Check(s == "/v1/authorizations/authz_b/capture" && it.has_seq(), "item substitution");
    Options o;
    o.port = 8420;
    o.method = "POST";
    o.path = "/v1/a";
    o.headers = {"Idempotency-Key: bench-{seq}"};
    o.body = "{\"c\":{conn}}";
    RequestBuilder b(o);
    b.Build(s, 9, 3, "tok");
    Check(s == "POST /v1/a HTTP/1.1\r\nHost: 127.0.0.1:8420\r\nIdempotency-Key: bench-9\r\n"
               "Authorization: Bearer tok\r\nContent-Length: 7\r\n\r\n{\"c\":3}",
          "request bytes: " + s);
  }
  if (failures == 0) {
    fprintf(stderr, "load_driver self-test: ok\n");
    return 0;
  }
  fprintf(stderr, "load_driver self-test: %d failures\n", failures);
  return 1;
}

}  // namespace
}  // namespace mandated::bench

int main(int argc, char** argv) {
  mandated::bench::Options o;
  if (!mandated::bench::ParseArgs(argc, argv, o)) {
    mandated::bench::Usage();
    return 2;
  }
  if (o.self_test) {
    return mandated::bench::SelfTest();
  }
  return mandated::bench::RunLoad(o);
}
