// App: composes the service: opens the store, builds the domain services, registers every route
// and runs the HTTP server. main.cc and the tests both start the service through it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/auth.h"
#include "api/config.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/rate_limiter.h"
#include "api/router.h"
#include "base/clock.h"
#include "base/random.h"
#include "base/secret.h"
#include "identity/directory.h"
#include "identity/operator_auth.h"
#include "identity/principals.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::api {

// Thread safety: Start/Run from the main thread; Stop from any thread.
class App {
 public:
  struct Secrets {
    std::optional<SecretBytes> bootstrap_token;  // MANDATED_BOOTSTRAP_TOKEN
  };

  // Opens storage and binds the listener; does not serve yet. Errors: storage failures
  // (kDataLoss for corruption, kUnavailable if locked) and listen failures.
  static Result<std::unique_ptr<App>> Start(const ServerConfig& config, Secrets secrets);
  ~App();

  int port() const { return port_; }
  // The operator token generated on first start (to print once), if any.
  std::optional<SecretBytes> TakeGeneratedToken() { return std::move(generated_token_); }

  // The store, for tests that check what a request did or did not change.
  store::KvStore& store_for_testing() { return *store_; }
  // The route table, for tests that check every route is covered.
  const Router& router_for_testing() const { return router_; }
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
  Response DidDocument() const;
  Response Jwks() const;

  ServerConfig config_;
  Clock* clock_ = &SystemClock::Get();
  Random* random_ = &SystemRandom::Get();
  std::unique_ptr<store::KvStore> store_;
  std::unique_ptr<identity::PrincipalStore> principals_;
  std::unique_ptr<identity::OperatorAuth> operator_auth_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<AccessGuard> guard_;
  std::string service_did_;  // did:web of this service
  Router router_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  std::optional<SecretBytes> generated_token_;
};

}  // namespace mandated::api
