// Server configuration: defaults, then an optional JSON file, then MANDATED_* environment
// variables, then command-line flags (later wins). Reference in specs/config.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "base/result.h"
#include "identity/access.h"

namespace mandated::api {

struct ServerConfig {
  std::string data_dir = "./mandated-data";  // RocksDB and service state
  // Where POST /v1/backups writes copies of the store ("": backups off; specs/storage.md §Backups).
  std::string backup_dir;
  std::string listen_host = "127.0.0.1";
  int listen_port = 8420;                    // 0 picks a free port (logged at start)
  int worker_threads = 64;                   // HTTP worker pool size
  uint64_t max_body_bytes = 64 * 1024;       // larger bodies get 413 unread
  uint64_t max_header_bytes = 16 * 1024;     // request line and headers; more closes the connection
  int read_timeout_ms = 5000;
  int request_timeout_ms = 10000;            // a whole request, from its first byte
  int write_timeout_ms = 5000;
  int keepalive_timeout_s = 5;
  int keepalive_max_requests = 1000;
  // Reverse proxies whose forwarding header names the client (specs/api.md §Client address);
  // empty: the TCP peer is the client.
  std::vector<IpNetwork> trusted_proxies;
  ForwardedHeader forwarded_header = ForwardedHeader::kXForwardedFor;
  std::string log_level = "info";
  std::string kek_file;                      // key-encryption key file (signer key store)
  std::string public_host;                   // did:web host (default: listen address)
  int session_ttl_minutes = 15;              // agent session lifetime (default and maximum)
  int64_t session_retention_s = 604800;      // how long an ended session is kept before pruning
  int64_t status_list_ttl_s = 300;           // "ttl" and max-age of served status lists
  int64_t reservation_ttl_s = 600;           // lease of an allowed authorization's hold
  int64_t approval_timeout_s = 900;          // how long a step-up approval may wait
  int64_t idempotency_ttl_s = 86400;         // how long idempotency keys are kept (at least)
  int audit_sequence_ms = 50;                // how often staged audit events are sequenced
  int audit_checkpoint_s = 60;               // how often a grown audit tree gets a checkpoint
  // Token buckets per credential, by role (operator, admin, approver, auditor, merchant, agent).
  // An agent's own rate_limit overrides the "agent" entry for its sessions.
  std::map<std::string, identity::RateLimit> rate_limits = DefaultRateLimits();
  std::string config_file;                   // where the file layer came from, if any
  std::string settlement_config;             // settlement backends per network (specs/evm.md §6)

  static std::map<std::string, identity::RateLimit> DefaultRateLimits();
};

struct ParsedCommandLine {
  ServerConfig config;
  bool show_help = false;
  bool show_version = false;
};

using GetEnv = std::function<const char*(const char*)>;

// Builds the configuration from all layers. Errors are kInvalidArgument ("bad-config") naming
// the flag, variable or file key at fault.
Result<ParsedCommandLine> LoadServerConfig(const std::vector<std::string>& args,
                                           const GetEnv& getenv);

// Text for `mandated --help`.
std::string ServerUsage();

// Every setting's flag and environment variable, in the order of specs/config.md (for tests that
// hold ServerUsage() and the spec to the code).
std::vector<std::pair<std::string, std::string>> ServerSettingNames();

}  // namespace mandated::api
