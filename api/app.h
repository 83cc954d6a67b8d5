// App: composes the service: opens the store, builds the domain services, registers every route
// and runs the HTTP server. main.cc and the tests both start the service through it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/auth.h"
#include "api/config.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/rate_limiter.h"
#include "api/router.h"
#include "api/settlement_config.h"
#include "audit/log.h"
#include "base/clock.h"
#include "base/random.h"
#include "base/secret.h"
#include "identity/directory.h"
#include "identity/operator_auth.h"
#include "identity/principals.h"
#include "identity/session_pruner.h"
#include "identity/tenant_pruner.h"
#include "mandates/ap2_authority.h"
#include "mandates/registry.h"
#include "policy/authorizer.h"
#include "policy/idempotency.h"
#include "settlement/facilitator.h"
#include "settlement/ledger.h"
#include "settlement/payer.h"
#include "settlement/usage.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::api {

// DID documents and JWKS (specs/signing.md §DIDs): a DID's published keys as JsonWebKey2020
// methods, or as JWKs whose kid is the method id. Shared by the service DID and the principals'
// issuer DIDs (routes_keys.cc).
Result<std::vector<signer::KeyInfo>> PublishedKeys(signer::KeyStore& keys, const std::string& owner,
                                                   const std::string& purpose);
Response DidDocumentResponse(const std::string& did,
                             const Result<std::vector<signer::KeyInfo>>& keys);
Response JwksResponse(const std::string& did, const Result<std::vector<signer::KeyInfo>>& keys);
// A public JWK set as served: application/jwk-set+json, cacheable for 300 s.
Response JwkSetResponse(const json::Value& jwks);
// GET of a Token Status List (specs/api.md §Public documents): the `{list}` parameter as a
// decimal (404 status-list-not-found otherwise), the token `serve` signs for it as
// application/statuslist+jwt with ETag and Cache-Control, 304 on a matching If-None-Match.
Response StatusListResponse(
    Request& req, const std::function<Result<mandates::ServedStatusList>(uint64_t list)>& serve);

// Thread safety: Start/Run from the main thread; Stop from any thread.
class App {
 public:
  struct Secrets {
    std::optional<SecretBytes> bootstrap_token;  // MANDATED_BOOTSTRAP_TOKEN
  };

  // Wraps the opened store before anything uses it (tests inject storage faults with it).
  using StoreWrapper =
      std::function<std::unique_ptr<store::KvStore>(std::unique_ptr<store::KvStore>)>;

  // Opens storage and binds the listener; does not serve yet. Errors: storage failures
  // (kDataLoss for corruption, kUnavailable if locked) and listen failures.
  // `clock`: the service's clock (tests pass a fake one; it must outlive the App); the system
  // clock when null. `wrap_store`: see StoreWrapper; none when null.
  static Result<std::unique_ptr<App>> Start(const ServerConfig& config, Secrets secrets,
                                            Clock* clock = nullptr,
                                            const StoreWrapper& wrap_store = nullptr);
  ~App();

  int port() const { return port_; }
  // The operator token generated on first start (to print once), if any.
  std::optional<SecretBytes> TakeGeneratedToken() { return std::move(generated_token_); }

  // The store, for tests that check what a request did or did not change.
  store::KvStore& store_for_testing() { return *store_; }
  // The route table, for tests that check every route is covered.
  const Router& router_for_testing() const { return router_; }
  // The authorizer, for tests that act as the facilitator's capture of a settled payment.
  policy::Authorizer& authorizer_for_testing() { return *authorizer_; }
  const std::string& service_did() const { return service_did_; }

  // Serves until Stop(); then flushes storage.
  Status Run();
  void Stop();

 private:
  App() = default;
  void RegisterRoutes();
  void RegisterPrincipalRoutes();
  void RegisterKeyRoutes();
  void RegisterIdentityRoutes();
  void RegisterMandateRoutes();
  void RegisterAuthorizationRoutes();
  void RegisterAuditRoutes();
  void RegisterX402Routes();    // routes_x402.cc
  void RegisterLedgerRoutes();  // routes_ledger.cc
  void RegisterUsageRoutes();   // routes_usage.cc
  void RegisterAp2Routes();     // routes_ap2.cc
  void RegisterBackupRoutes();  // routes_backups.cc
  // Copies the whole store to a new directory under config_.backup_dir, with its manifest, and
  // records backup.created (specs/storage.md §Backups): the manifest, its path and complete: true.
  // kFailedPrecondition "backups-not-configured" without a backup directory.
  Result<json::Value> TakeBackup();
  // Every directory under config_.backup_dir in id (time) order: its manifest (complete:
  // true), or its id only (complete: false: a backup that failed, or a staging directory with
  // in_progress telling whether a backup is being taken now).
  Result<json::Value> ListBackups();
  // Captures the hold a custodial AP2 closing spent (specs/ap2.md §6 step 3), late when its
  // lease ended (the money moved), asked again for a moment while the sweeper holds it; OK
  // when it was captured already. kFailedPrecondition "ap2-capture-lost" when it can never be
  // (no such authorization, or its hold was released). `actor`: who the capture's record
  // names (the closing's agent; the service when retried). routes_ap2.cc.
  Status CaptureClosedPayment(const identity::Tenant& t, const std::string& authorization_id,
                              policy::Actor actor);
  // Captures every hold still marked pending (ap2-capture/) of every principal, clearing each
  // mark once captured: what a crash or a storage error between a closing's write and its
  // capture left. One that can never be captured is logged as an error and its mark moved to
  // ap2-capture-lost/. Run at start before the sweeper, and before a sweep once a capture
  // failed in this process (sets ap2_capture_retry_ again while any stays pending).
  void CaptureClosedPayments();

  ServerConfig config_;
  Clock* clock_ = &SystemClock::Get();
  Random* random_ = &SystemRandom::Get();
  std::unique_ptr<store::KvStore> store_;
  std::unique_ptr<identity::PrincipalStore> principals_;
  std::unique_ptr<identity::OperatorAuth> operator_auth_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<audit::Log> audit_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<identity::SessionPruner> session_pruner_;  // stopped before directory_ goes
  std::unique_ptr<mandates::MandateRegistry> mandates_;
  std::unique_ptr<policy::IdempotencyKeys> idempotency_;
  std::unique_ptr<policy::Authorizer> authorizer_;
  std::unique_ptr<settlement::Ledger> ledger_;
  std::unique_ptr<settlement::UsageMeter> usage_;
  std::unique_ptr<settlement::Facilitator> facilitator_;
  std::unique_ptr<settlement::Payer> payer_;
  std::unique_ptr<SettlementRuntime> settlement_;  // evm backends and their worker, if any
  std::unique_ptr<mandates::ap2::Authority> ap2_;
  // Stopped (destroyed) before idempotency_ and ap2_, whose records its sweeps delete.
  std::unique_ptr<identity::TenantPruner> tenant_pruner_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<AccessGuard> guard_;
  std::string service_did_;  // did:web of this service
  Router router_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  std::optional<SecretBytes> generated_token_;
  std::atomic<bool> ap2_capture_retry_{false};  // a closing's capture failed: try before a sweep
  std::mutex backup_mu_;  // one backup at a time
  // The id of the backup being taken ("" when none), guarded by backup_id_mu_: a listing tells
  // its staging directory from one a crash left behind.
  std::mutex backup_id_mu_;
  std::string backup_taking_;
};

}  // namespace mandated::api
