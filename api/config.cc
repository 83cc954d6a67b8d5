// Layered configuration loading for the mandated server.
#include "api/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/json.h"

namespace mandated::api {
namespace {

Status BadConfig(const std::string& where, const std::string& what) {
  return InvalidArgumentError(where + ": " + what, "bad-config");
}

Result<int64_t> ParseInt(const std::string& where, const std::string& text, int64_t min,
                         int64_t max) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return BadConfig(where, "expected an integer, got \"" + text + "\"");
  }
  if (v < min || v > max) {
    return BadConfig(where, "must be between " + std::to_string(min) + " and " +
                                std::to_string(max));
  }
  return v;
}

Status ParseListen(const std::string& where, const std::string& text, ServerConfig& cfg) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return BadConfig(where, "expected HOST:PORT, got \"" + text + "\"");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  MD_ASSIGN_OR_RETURN(int64_t port, ParseInt(where, text.substr(colon + 1), 0, 65535));
  cfg.listen_host = host;
  cfg.listen_port = static_cast<int>(port);
  return OkStatus();
}

// "role=PER_SECOND/BURST,role=PER_SECOND/BURST": each entry replaces that role's default.
Status ParseRateLimits(const std::string& where, const std::string& text, ServerConfig& cfg) {
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string entry = text.substr(start, comma - start);
    const size_t eq = entry.find('=');
    const size_t slash = entry.find('/');
    if (eq == std::string::npos || slash == std::string::npos || slash < eq) {
      return BadConfig(where, "expected role=PER_SECOND/BURST[,...], got \"" + entry + "\"");
    }
    const std::string role = entry.substr(0, eq);
    if (cfg.rate_limits.count(role) == 0) {
      return BadConfig(where, "unknown role \"" + role +
                                  "\" (operator, admin, approver, auditor, merchant, agent)");
    }
    MD_ASSIGN_OR_RETURN(int64_t rate,
                        ParseInt(where, entry.substr(eq + 1, slash - eq - 1), 1, 1000000));
    MD_ASSIGN_OR_RETURN(int64_t burst, ParseInt(where, entry.substr(slash + 1), 1, 1000000));
    cfg.rate_limits[role] = identity::RateLimit{rate, burst};
    start = comma + 1;
  }
  return OkStatus();
}

// Applies one setting by its canonical name (the file key; flags and env map onto it).
Status Apply(const std::string& key, const std::string& value, const std::string& where,
             ServerConfig& cfg) {
  if (key == "data_dir") {
    if (value.empty()) return BadConfig(where, "must not be empty");
    cfg.data_dir = value;
  } else if (key == "listen") {
    return ParseListen(where, value, cfg);
  } else if (key == "workers") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1, 4096));
    cfg.worker_threads = static_cast<int>(v);
  } else if (key == "max_body_bytes") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1024, int64_t{64} << 20));
    cfg.max_body_bytes = static_cast<uint64_t>(v);
  } else if (key == "max_header_bytes") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 4096, 1 << 20));
    cfg.max_header_bytes = static_cast<uint64_t>(v);
  } else if (key == "request_timeout_ms") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 100, 600000));
    cfg.request_timeout_ms = static_cast<int>(v);
  } else if (key == "read_timeout_ms") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1, 600000));
    cfg.read_timeout_ms = static_cast<int>(v);
  } else if (key == "write_timeout_ms") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1, 600000));
    cfg.write_timeout_ms = static_cast<int>(v);
  } else if (key == "keepalive_timeout_s") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 0, 3600));
    cfg.keepalive_timeout_s = static_cast<int>(v);
  } else if (key == "keepalive_max_requests") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1, 1000000));
    cfg.keepalive_max_requests = static_cast<int>(v);
  } else if (key == "trusted_proxies") {
    Result<std::vector<IpNetwork>> nets = ParseTrustedProxies(value);
    if (!nets.ok()) return BadConfig(where, nets.error().message());
    cfg.trusted_proxies = std::move(*nets);
  } else if (key == "forwarded_header") {
    if (value == "x-forwarded-for") {
      cfg.forwarded_header = ForwardedHeader::kXForwardedFor;
    } else if (value == "forwarded") {
      cfg.forwarded_header = ForwardedHeader::kForwarded;
    } else {
      return BadConfig(where, "must be x-forwarded-for or forwarded");
    }
  } else if (key == "log_level") {
    if (value != "debug" && value != "info" && value != "warn" && value != "error") {
      return BadConfig(where, "must be debug, info, warn or error");
    }
    cfg.log_level = value;
  } else if (key == "backup_dir") {
    if (value.empty()) return BadConfig(where, "must not be empty");
    cfg.backup_dir = value;
  } else if (key == "kek_file") {
    // Empty would quietly mean the development KEK (an unset ${VAR} in a unit file, say).
    if (value.empty()) return BadConfig(where, "must not be empty");
    cfg.kek_file = value;
  } else if (key == "session_ttl_minutes") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1, 1440));
    cfg.session_ttl_minutes = static_cast<int>(v);
  } else if (key == "session_retention_s") {
    MD_ASSIGN_OR_RETURN(cfg.session_retention_s, ParseInt(where, value, 3600, 31536000));
  } else if (key == "status_list_ttl_s") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 10, 86400));
    cfg.status_list_ttl_s = v;
  } else if (key == "reservation_ttl_s") {
    MD_ASSIGN_OR_RETURN(cfg.reservation_ttl_s, ParseInt(where, value, 1, 604800));
  } else if (key == "approval_timeout_s") {
    MD_ASSIGN_OR_RETURN(cfg.approval_timeout_s, ParseInt(where, value, 1, 604800));
  } else if (key == "idempotency_ttl_s") {
    MD_ASSIGN_OR_RETURN(cfg.idempotency_ttl_s, ParseInt(where, value, 86400, 2592000));
  } else if (key == "audit_sequence_ms") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 10, 60000));
    cfg.audit_sequence_ms = static_cast<int>(v);
  } else if (key == "audit_checkpoint_s") {
    MD_ASSIGN_OR_RETURN(int64_t v, ParseInt(where, value, 1, 86400));
    cfg.audit_checkpoint_s = static_cast<int>(v);
  } else if (key == "rate_limits") {
    return ParseRateLimits(where, value, cfg);
  } else if (key == "settlement_config") {
    cfg.settlement_config = value;  // read and checked at start (api/settlement_config.h)
  } else if (key == "public_host") {
    for (char c : value) {
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
            c == '%')) {
        return BadConfig(where, "must be a host name, optionally with :port");
      }
    }
    // One ":port" at most, 1-65535 (the DID writes it %3A): a port that cannot be reached would
    // name the service for good.
    const std::string_view host(value);
    const size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view port = host.substr(colon + 1);
      int n = 0;
      const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
      if (colon == 0 || ec != std::errc() || end != port.data() + port.size() || n < 1 ||
          n > 65535 || port.front() == '0') {
        return BadConfig(where, "must be a host name, optionally with :port (1-65535)");
      }
    }
    cfg.public_host = value;
  } else {
    return BadConfig(where, "unknown setting");
  }
  return OkStatus();
}

struct Setting {
  const char* key;
  const char* flag;
  const char* env;
};
constexpr Setting kSettings[] = {
    {"data_dir", "--data-dir", "MANDATED_DATA_DIR"},
    {"listen", "--listen", "MANDATED_LISTEN"},
    {"workers", "--workers", "MANDATED_WORKERS"},
    {"max_body_bytes", "--max-body-bytes", "MANDATED_MAX_BODY_BYTES"},
    {"max_header_bytes", "--max-header-bytes", "MANDATED_MAX_HEADER_BYTES"},
    {"read_timeout_ms", "--read-timeout-ms", "MANDATED_READ_TIMEOUT_MS"},
    {"request_timeout_ms", "--request-timeout-ms", "MANDATED_REQUEST_TIMEOUT_MS"},
    {"write_timeout_ms", "--write-timeout-ms", "MANDATED_WRITE_TIMEOUT_MS"},
    {"keepalive_timeout_s", "--keepalive-timeout-s", "MANDATED_KEEPALIVE_TIMEOUT_S"},
    {"keepalive_max_requests", "--keepalive-max-requests", "MANDATED_KEEPALIVE_MAX_REQUESTS"},
    {"trusted_proxies", "--trusted-proxies", "MANDATED_TRUSTED_PROXIES"},
    {"forwarded_header", "--forwarded-header", "MANDATED_FORWARDED_HEADER"},
    {"log_level", "--log-level", "MANDATED_LOG_LEVEL"},
    {"kek_file", "--kek-file", "MANDATED_KEK_FILE"},
    {"backup_dir", "--backup-dir", "MANDATED_BACKUP_DIR"},
    {"public_host", "--public-host", "MANDATED_PUBLIC_HOST"},
    {"session_ttl_minutes", "--session-ttl-minutes", "MANDATED_SESSION_TTL_MINUTES"},
    {"session_retention_s", "--session-retention-s", "MANDATED_SESSION_RETENTION_S"},
    {"status_list_ttl_s", "--status-list-ttl-s", "MANDATED_STATUS_LIST_TTL_S"},
    {"reservation_ttl_s", "--reservation-ttl-s", "MANDATED_RESERVATION_TTL_S"},
    {"approval_timeout_s", "--approval-timeout-s", "MANDATED_APPROVAL_TIMEOUT_S"},
    {"idempotency_ttl_s", "--idempotency-ttl-s", "MANDATED_IDEMPOTENCY_TTL_S"},
    {"audit_sequence_ms", "--audit-sequence-ms", "MANDATED_AUDIT_SEQUENCE_MS"},
    {"audit_checkpoint_s", "--audit-checkpoint-s", "MANDATED_AUDIT_CHECKPOINT_S"},
    {"rate_limits", "--rate-limits", "MANDATED_RATE_LIMITS"},
    {"settlement_config", "--settlement-config", "MANDATED_SETTLEMENT_CONFIG"},
};

Status ApplyFile(const std::string& path, ServerConfig& cfg) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return BadConfig(path, "cannot read configuration file");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Result<json::Value> doc = json::Parse(ss.str());
  if (!doc.ok()) {
    return BadConfig(path, doc.error().message());
  }
  if (!doc->is_object()) {
    return BadConfig(path, "expected a JSON object");
  }
  for (size_t i = 0; i < doc->size(); ++i) {
    const std::string& key = doc->keys()[i];
    const json::Value& v = doc->items()[i];
    std::string text;
    if (v.is_string()) {
      text = v.as_string();
    } else if (v.is_number()) {
      text = v.number_text();
    } else {
      return BadConfig(path + ": " + key, "expected a string or a number");
    }
    MD_RETURN_IF_ERROR(Apply(key, text, path + ": " + key, cfg));
  }
  cfg.config_file = path;
  return OkStatus();
}

// The backup directory holds only backups: one that is the data directory, lies inside it or
// holds it would list the live store among them (as an incomplete backup, to be deleted).
Status CheckBackupDirApart(const ServerConfig& cfg) {
  if (cfg.backup_dir.empty()) return OkStatus();
  std::error_code ec;
  const std::filesystem::path backups =
      std::filesystem::weakly_canonical(std::filesystem::absolute(cfg.backup_dir, ec), ec);
  const std::filesystem::path data =
      std::filesystem::weakly_canonical(std::filesystem::absolute(cfg.data_dir, ec), ec);
  if (ec) return BadConfig("--backup-dir", "cannot be resolved: " + ec.message());
  // Whether `inner` is `outer` or lies under it, compared component by component (a trailing
  // separator, an empty last component, is no component).
  auto within = [](const std::filesystem::path& inner, const std::filesystem::path& outer) {
    auto i = inner.begin();
    for (auto o = outer.begin(); o != outer.end(); ++o) {
      if (o->empty()) continue;
      while (i != inner.end() && i->empty()) ++i;
      if (i == inner.end() || *i != *o) return false;
      ++i;
    }
    return true;
  };
  if (within(backups, data) || within(data, backups)) {
    return BadConfig("--backup-dir", "must lie outside the data directory " + cfg.data_dir +
                                          " and not hold it");
  }
  return OkStatus();
}

}  // namespace

std::map<std::string, identity::RateLimit> ServerConfig::DefaultRateLimits() {
  return {{"operator", {20, 40}}, {"admin", {20, 40}},     {"approver", {10, 20}},
          {"auditor", {20, 40}},  {"merchant", {200, 400}}, {"agent", {50, 100}}};
}

Result<ParsedCommandLine> LoadServerConfig(const std::vector<std::string>& args,
                                           const GetEnv& getenv) {
  ParsedCommandLine out;
  // The file layer comes first; find it before applying anything else.
  std::string file;
  if (const char* f = getenv("MANDATED_CONFIG"); f != nullptr && *f != '\0') {
    file = f;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      if (i + 1 >= args.size() || args[i + 1].empty()) return BadConfig("--config", "needs a value");
      file = args[++i];
    } else if (args[i].rfind("--config=", 0) == 0) {
      file = args[i].substr(9);
      if (file.empty()) return BadConfig("--config", "needs a value");
    }
  }
  if (!file.empty()) {
    MD_RETURN_IF_ERROR(ApplyFile(file, out.config));
  }
  // An empty variable means "not set", except for the KEK: a unit file whose ${KEK} expanded
  // to nothing must not start on the development KEK (specs/config.md). Refused below unless a
  // --kek-file flag names one (flags win over the environment) or only help is asked for.
  const char* empty_kek_env = nullptr;
  for (const Setting& s : kSettings) {
    const char* v = getenv(s.env);
    if (v != nullptr && *v == '\0' && std::string_view(s.key) == "kek_file") empty_kek_env = s.env;
    if (v != nullptr && *v != '\0') {
      MD_RETURN_IF_ERROR(Apply(s.key, v, s.env, out.config));
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.show_help = true;
      continue;
    }
    if (arg == "--version") {
      out.show_version = true;
      continue;
    }
    std::string value;
    bool has_inline = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    if (arg == "--config") {
      if (!has_inline) ++i;
      continue;
    }
    const Setting* found = nullptr;
    for (const Setting& s : kSettings) {
      if (arg == s.flag) found = &s;
    }
    if (found == nullptr) {
      return BadConfig(arg, "unknown flag (see --help)");
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) {
        return BadConfig(arg, "needs a value");
      }
      value = args[++i];
    }
    MD_RETURN_IF_ERROR(Apply(found->key, value, arg, out.config));
    if (std::string_view(found->key) == "kek_file") empty_kek_env = nullptr;
  }
  if (empty_kek_env != nullptr && !out.show_help && !out.show_version) {
    return BadConfig(empty_kek_env, "is empty: name the key-encryption key file, or unset it "
                                    "for the development KEK");
  }
  MD_RETURN_IF_ERROR(CheckBackupDirApart(out.config));
  return out;
}

std::vector<std::pair<std::string, std::string>> ServerSettingNames() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Setting& s : kSettings) out.emplace_back(s.flag, s.env);
  return out;
}

std::string ServerUsage() {
  return R"(mandated: spending mandates, pre-purchase authorization and x402 for AI agents.

Usage: mandated [flags]

Flags (each also settable as an environment variable, or as a key of the JSON file given by
--config / MANDATED_CONFIG; flags win over the environment, which wins over the file):
  --data-dir DIR               MANDATED_DATA_DIR      data directory (default ./mandated-data)
  --listen HOST:PORT           MANDATED_LISTEN        listen address (default 127.0.0.1:8420;
                                                      port 0 picks a free port)
  --workers N                  MANDATED_WORKERS       HTTP worker threads (default 64)
  --max-body-bytes N           MANDATED_MAX_BODY_BYTES  request body limit (default 65536)
  --max-header-bytes N         MANDATED_MAX_HEADER_BYTES  request line and headers together
                                                      (default 16384; more closes the connection)
  --read-timeout-ms N          MANDATED_READ_TIMEOUT_MS   per read (default 5000, 1-600000)
  --request-timeout-ms N       MANDATED_REQUEST_TIMEOUT_MS  a whole request from its first byte
                                                      (default 10000, 100-600000)
  --write-timeout-ms N         MANDATED_WRITE_TIMEOUT_MS  per write (default 5000, 1-600000)
  --keepalive-timeout-s N      MANDATED_KEEPALIVE_TIMEOUT_S  idle time between requests
                                                      (default 5, 0-3600; 0: one request)
  --keepalive-max-requests N   MANDATED_KEEPALIVE_MAX_REQUESTS  requests per connection
                                                      (default 1000, 1-1000000)
  --trusted-proxies CIDRS      MANDATED_TRUSTED_PROXIES  reverse proxies whose forwarding
                                                      header names the client, e.g.
                                                      127.0.0.1/32,::1 (default: none, the
                                                      TCP peer is the client)
  --forwarded-header NAME      MANDATED_FORWARDED_HEADER  the header those proxies set:
                                                      x-forwarded-for (default) or forwarded
  --log-level LEVEL            MANDATED_LOG_LEVEL     debug, info, warn, error (default info)
  --kek-file PATH              MANDATED_KEK_FILE      key-encryption key for stored private keys
                                                      (64 hex characters, mode 0600; default:
                                                      development key in DATA_DIR.kek)
  --backup-dir DIR             MANDATED_BACKUP_DIR    where POST /v1/backups writes copies of
                                                      the store (default: none, backups off)
  --public-host HOST[:PORT]    MANDATED_PUBLIC_HOST   host of the service's did:web identity
                                                      (default: the listen address)
  --session-ttl-minutes N      MANDATED_SESSION_TTL_MINUTES  agent session lifetime, default
                                                      and maximum (default 15, at most 1440)
  --session-retention-s N      MANDATED_SESSION_RETENTION_S  how long an ended or expired
                                                      session is kept before it is deleted
                                                      (default 604800, 3600-31536000)
  --status-list-ttl-s N        MANDATED_STATUS_LIST_TTL_S  how long verifiers may cache a
                                                      mandate status list (default 300, 10-86400)
  --reservation-ttl-s N        MANDATED_RESERVATION_TTL_S  how long an allowed authorization
                                                      holds its amount (default 600, 1-604800)
  --approval-timeout-s N       MANDATED_APPROVAL_TIMEOUT_S  how long a step-up approval waits
                                                      (default 900, 1-604800)
  --idempotency-ttl-s N        MANDATED_IDEMPOTENCY_TTL_S  how long an Idempotency-Key's first
                                                      answer is kept (default 86400,
                                                      86400-2592000)
  --audit-sequence-ms N        MANDATED_AUDIT_SEQUENCE_MS  how often staged audit events are
                                                      sequenced (default 50, 10-60000)
  --audit-checkpoint-s N       MANDATED_AUDIT_CHECKPOINT_S  how often a checkpoint is signed
                                                      when the log grew (default 60, 1-86400)
  --rate-limits SPEC           MANDATED_RATE_LIMITS   token buckets per credential by role:
                                                      role=PER_SECOND/BURST[,...] (defaults:
                                                      operator=20/40, admin=20/40,
                                                      approver=10/20, auditor=20/40,
                                                      merchant=200/400, agent=50/100)
  --settlement-config FILE     MANDATED_SETTLEMENT_CONFIG  settlement backend per network
                                                      (ledger or evm), JSON; specs/evm.md §6
  --config FILE                MANDATED_CONFIG        JSON file with the keys above in snake_case
  --help, --version

Other environment:
  MANDATED_BOOTSTRAP_TOKEN   operator token accepted for administration (else one is generated
                             on first start and printed once on standard output)

Signals: SIGTERM or SIGINT stops accepting connections, finishes in-flight requests, flushes
storage and exits 0.
)";
}

}  // namespace mandated::api
