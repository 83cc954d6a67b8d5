// Service composition and the routes of specs/api.md.
#include "api/app.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <filesystem>
#include <vector>

#include "api/handler_util.h"
#include "api/problem.h"
#include "audit/event.h"
#include "base/log.h"
#include "identity/key_events.h"
#include "settlement/evm_rpc_chain.h"
#include "signer/kek.h"
#include "store/rocks_store.h"

namespace mandated::api {

Result<std::unique_ptr<App>> App::Start(const ServerConfig& config, Secrets secrets,
                                        Clock* clock, const StoreWrapper& wrap_store) {
  std::unique_ptr<App> app(new App());
  app->config_ = config;
  if (clock != nullptr) {
    app->clock_ = clock;
  }
  // Settings refused at start are refused before anything is made on disk.
  if (secrets.bootstrap_token.has_value()) {
    MD_RETURN_IF_ERROR(identity::OperatorAuth::CheckConfigured(*secrets.bootstrap_token));
  }
  // The service's did:web names a host: an IPv6 listen address cannot stand in for one (its
  // colons would read as a port and path), so such a server is named with --public-host.
  if (config.public_host.empty() && config.listen_host.find(':') != std::string::npos) {
    return InvalidArgumentError("--public-host: required when listening on an IPv6 address (" +
                                    config.listen_host + "): the service's did:web names a host",
                                "bad-config");
  }
  // Nor can the wildcard address: did:web:0.0.0.0 resolves nowhere, and the identity (and the
  // audit origin, fixed at the first start) would stay so once a real name is given.
  // Any spelling of it ("0", "0.0"): what the resolver binds, not the text.
  if (in_addr any{}; config.public_host.empty() &&
                     inet_aton(config.listen_host.c_str(), &any) != 0 && any.s_addr == INADDR_ANY) {
    return InvalidArgumentError(
        "--public-host: required when listening on every address (" + config.listen_host +
            "): the service's did:web names the host clients reach (a service already named "
            "by this address keeps its identity with --public-host " + config.listen_host +
            ":" + std::to_string(config.listen_port) + ")",
        "bad-config");
  }
  // The settlement file is read before anything is made on disk: a bad one stops the start with
  // nothing created (no store, KEK or keys, and no audit origin fixed under a host being fixed).
  std::optional<SettlementConfig> settlement_config;
  if (!config.settlement_config.empty()) {
    MD_ASSIGN_OR_RETURN(settlement_config, LoadSettlementConfig(config.settlement_config));
  }
  std::error_code ec;
  const bool created = std::filesystem::create_directories(config.data_dir, ec);
  if (!ec && created) {
    // Its records (mandate tokens among them) are the service's alone: no other local user
    // reads them, whatever the umask (RocksDB creates its files 0644 inside).
    std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  if (ec) {
    return UnavailableError("cannot create data directory " + config.data_dir + ": " +
                                ec.message(),
                            "storage-io");
  }
  store::RocksStoreOptions so;
  so.path = config.data_dir + "/db";
  so.column_families = {identity::kPrincipalsFamily, identity::kOperatorFamily,
                        signer::kKeysFamily, identity::kTenantsFamily,
                        identity::kIdentityIndexFamily, std::string(audit::kAuditFamily),
                        settlement::kLedgerFamily, settlement::kX402Family,
                        settlement::kUsageFamily, settlement::kChainFamily};
  MD_ASSIGN_OR_RETURN(app->store_, store::OpenRocksStore(so));
  if (wrap_store) {
    app->store_ = wrap_store(std::move(app->store_));
  }

  // Private keys are sealed under the KEK; a wrong or unreadable KEK stops the start.
  MD_ASSIGN_OR_RETURN(signer::LoadedKek kek,
                      signer::LoadKek({config.kek_file, config.data_dir}));
  if (kek.created_for_development) {
    log::Warn("DEVELOPMENT KEY-ENCRYPTION KEY CREATED: private keys are sealed with a key stored "
              "in a plain file beside the data directory. Set MANDATED_KEK_FILE for production.",
              {{"kek_file", kek.path}});
  }
  MD_ASSIGN_OR_RETURN(app->keys_, signer::KeyStore::Open(*app->store_, std::move(kek.key),
                                                         *app->clock_, *app->random_));
  app->keys_->set_change_hook(identity::KeyAuditHook(*app->clock_));  // key.* audit events
  if (Result<signer::KeyInfo> k = app->keys_->ActiveKey("service", "service"); !k.ok()) {
    if (k.error().code() != StatusCode::kNotFound) {
      return k.error();
    }
    MD_RETURN_IF_ERROR(
        app->keys_->Generate(signer::KeyType::kEd25519, "service", "service").status());
  }

  app->principals_ =
      std::make_unique<identity::PrincipalStore>(*app->store_, *app->clock_, *app->random_);
  app->operator_auth_ = std::make_unique<identity::OperatorAuth>(*app->store_, *app->clock_);

  HttpServerOptions ho;
  ho.worker_threads = config.worker_threads;
  ho.max_body_bytes = config.max_body_bytes;
  ho.read_timeout_ms = config.read_timeout_ms;
  ho.max_header_bytes = config.max_header_bytes;
  ho.request_timeout_ms = config.request_timeout_ms;
  ho.write_timeout_ms = config.write_timeout_ms;
  ho.keepalive_timeout_s = config.keepalive_timeout_s;
  ho.keepalive_max_requests = config.keepalive_max_requests;
  ho.trusted_proxies = config.trusted_proxies;
  ho.forwarded_header = config.forwarded_header;
  app->http_ = std::make_unique<HttpServer>(ho, app->router_, app->metrics_);
  MD_ASSIGN_OR_RETURN(app->port_, app->http_->Bind(config.listen_host, config.listen_port));
  // The public host (and port) names the service: in its did:web, where a port is
  // percent-encoded (did:web method §3.2), and in the URLs it publishes (status lists): https for
  // a public host, plain http only for a loopback one.
  std::string public_host = config.public_host;
  if (public_host.empty()) {
    public_host = config.listen_host + ":" + std::to_string(app->port_);
  }
  std::string host = public_host;
  for (size_t at = host.find(':'); at != std::string::npos; at = host.find(':', at)) {
    host.replace(at, 1, "%3A");
  }
  app->service_did_ = "did:web:" + host;
  MD_ASSIGN_OR_RETURN(app->audit_, audit::Log::Open(*app->store_, *app->keys_, *app->clock_,
                                                    public_host + "/audit"));
  // The checkpoint key exists from the first start, so its creation is an early event.
  MD_RETURN_IF_ERROR(app->audit_->AuditKey().status());

  identity::DirectoryOptions dopts;
  dopts.service_did = app->service_did_;
  dopts.session_ttl_minutes = config.session_ttl_minutes;
  dopts.session_retention_s = config.session_retention_s;
  app->directory_ = std::make_unique<identity::Directory>(*app->store_, *app->keys_, *app->clock_,
                                                          *app->random_, dopts);
  // Deletes ended sessions after their retention (specs/access.md §Session retention).
  app->session_pruner_ = std::make_unique<identity::SessionPruner>(*app->directory_);
  mandates::RegistryOptions mopts;
  mopts.service_did = app->service_did_;
  const bool loopback = public_host.rfind("127.", 0) == 0 || public_host.rfind("localhost", 0) == 0 ||
                        public_host.rfind("[::1]", 0) == 0;
  mopts.public_base_url = (loopback ? "http://" : "https://") + public_host;
  mopts.status_list_ttl_s = config.status_list_ttl_s;
  app->mandates_ = std::make_unique<mandates::MandateRegistry>(*app->store_, *app->keys_, *app->clock_,
                                                               *app->random_, mopts);
  app->idempotency_ = std::make_unique<policy::IdempotencyKeys>(*app->store_, *app->clock_,
                                                                config.idempotency_ttl_s);
  policy::AuthorizerOptions aopts;
  aopts.reservation_ttl_s = config.reservation_ttl_s;
  aopts.approval_timeout_s = config.approval_timeout_s;
  aopts.service_did = app->service_did_;
  app->authorizer_ = std::make_unique<policy::Authorizer>(
      *app->store_, *app->keys_, *app->mandates_, *app->directory_, *app->principals_,
      *app->clock_, *app->random_, aopts);
  app->ledger_ = std::make_unique<settlement::Ledger>(*app->store_, *app->clock_, *app->random_);
  MD_ASSIGN_OR_RETURN(app->usage_, settlement::UsageMeter::Open(*app->store_, *app->clock_));
  app->facilitator_ = std::make_unique<settlement::Facilitator>(*app->store_, *app->ledger_,
                                                                *app->usage_, *app->clock_);
  // A payment our payer signed captures its authorization when it settles (specs/x402.md §6.4).
  app->facilitator_->set_capture_hook([app = app.get()](const std::string& principal,
                                                        const std::string& authorization_id,
                                                        Amount amount) -> Status {
    identity::Tenant t(*app->store_, principal);
    policy::Actor actor;
    actor.id = "x402-settlement";
    actor.captures_settled_payment = true;  // even when the hold's lease ended meanwhile
    Result<policy::Answer> captured =
        app->authorizer_->Capture(t, actor, authorization_id, amount, nullptr);
    if (captured.ok()) return OkStatus();
    // Already captured (a retried capture after a crash): done.
    Result<policy::Authorization> now = app->authorizer_->Get(t, authorization_id);
    if (now.ok() && now->reservation && now->reservation->state == "captured") return OkStatus();
    return captured.error();
  });
  // A payment of ours that failed on chain releases its hold (specs/evm.md §6.5), once its
  // signature can no longer move money: a failure leaves the EIP-3009 nonce unused, so until the
  // payment's validBefore the hold stays, and its lease (which ends no earlier) releases it.
  app->facilitator_->set_void_hook([app = app.get()](const std::string& principal,
                                                     const std::string& authorization_id) -> Status {
    if (Status live = app->payer_->GuardHold(principal, authorization_id,
                                             app->clock_->NowUnixSeconds());
        !live.ok()) {
      if (live.reason() != "payment-signed") return live;
      log::Info("x402 hold kept until the failed payment expires",
                {{"authorization", authorization_id}, {"why", live.message()}});
      return OkStatus();
    }
    identity::Tenant t(*app->store_, principal);
    policy::Actor actor;
    actor.id = "x402-settlement";
    actor.releases_failed_payment = true;
    Result<policy::Answer> voided = app->authorizer_->Void(t, actor, authorization_id, nullptr);
    if (voided.ok()) return OkStatus();
    Result<policy::Authorization> now = app->authorizer_->Get(t, authorization_id);
    if (now.ok() && now->reservation && now->reservation->closed_at) return OkStatus();  // already closed
    return voided.error();
  });
  if (settlement_config.has_value()) {
    MD_ASSIGN_OR_RETURN(app->settlement_,
                        SettlementRuntime::Start(*settlement_config, *app->store_, *app->keys_,
                                                 *app->clock_, *app->facilitator_));
  }
  app->payer_ = std::make_unique<settlement::Payer>(*app->authorizer_, *app->mandates_,
                                                    *app->directory_, *app->keys_,
                                                    *app->facilitator_, *app->clock_);
  // A merchant's recorded use and an authorization's hold count against one max_uses.
  app->mandates_->set_use_gate([az = app->authorizer_.get()](
                                   const std::string& principal,
                                   const std::vector<std::string>& mandate_ids,
                                   const std::function<Status(const std::vector<uint64_t>&)>& body) {
    return az->WithHeldUses(principal, mandate_ids, body);
  });
  // Captures and voids that failed (a hold busy at that moment, a storage error) are tried
  // again after the next sweep, not only at the next start.
  app->authorizer_->set_after_sweep([f = app->facilitator_.get()] {
    if (Result<size_t> pending = f->RetryFailedCaptures(); !pending.ok()) {
      log::Warn("x402 captures left pending", {{"error", pending.error().ToString()}});
    }
  });
  // A paid AP2 closing whose capture failed is captured before the sweep could write its hold
  // down as lapsed (specs/ap2.md §6).
  app->authorizer_->set_before_sweep([app = app.get()] {
    if (app->ap2_capture_retry_.exchange(false)) app->CaptureClosedPayments();
  });
  mandates::ap2::StatusListsConfig ap2_lists;
  ap2_lists.public_base_url = mopts.public_base_url;
  ap2_lists.ttl_s = config.status_list_ttl_s;
  app->ap2_ = std::make_unique<mandates::ap2::Authority>(*app->store_, *app->keys_,
                                                         *app->directory_, *app->clock_,
                                                         *app->random_, app->service_did_,
                                                         ap2_lists);
  // A hold under a payment the x402 payer signed is neither voided nor captured by anyone but
  // its settlement while that payment can settle, and one a custodial AP2 closing spent is
  // captured by that closing only (specs/x402.md §6.4, specs/ap2.md §6).
  app->authorizer_->set_hold_guard([payer = app->payer_.get(), ap2 = app->ap2_.get()](
                                       const std::string& principal, const std::string& id,
                                       int64_t now) -> Status {
    MD_RETURN_IF_ERROR(payer->GuardHold(principal, id, now));
    return ap2->GuardHold(principal, id);
  });
  // Deletes idempotency records past their TTL and AP2 challenges that answer nothing any more
  // (specs/storage.md §Retention).
  std::vector<identity::PruneSweep> sweeps;
  sweeps.push_back({"idempotency records",
                    [keys = app->idempotency_.get()](const identity::Tenant& t,
                                                     const std::string& after, size_t limit) {
                      return keys->PruneExpired(t, after, limit);
                    }});
  sweeps.push_back({"ap2 challenges",
                    [ap2 = app->ap2_.get()](const identity::Tenant& t, const std::string& after,
                                            size_t limit) {
                      return ap2->PruneChallenges(t, after, limit);
                    }});
  app->tenant_pruner_ = std::make_unique<identity::TenantPruner>(
      *app->store_, std::move(sweeps),
      [principals = app->principals_.get()](const std::string& after, size_t limit)
          -> Result<std::vector<std::string>> {
        MD_ASSIGN_OR_RETURN(std::vector<identity::Principal> page, principals->List(after, limit));
        std::vector<std::string> ids;
        for (identity::Principal& p : page) ids.push_back(std::move(p.id));
        return ids;
      });
  app->limiter_ = std::make_unique<RateLimiter>(*app->clock_);
  app->guard_ = std::make_unique<AccessGuard>(*app->store_, *app->directory_,
                                              *app->operator_auth_, *app->principals_,
                                              *app->limiter_, app->metrics_, config.rate_limits);
  // Routes are read by the server only once it serves (Run), so registering them after Bind
  // (which fixed the port the service DID names) is safe.
  app->RegisterRoutes();
  // Last, once nothing else can fail: a token generated here is printed only when the start
  // succeeded, and a start that failed before it stored nothing, so the next one generates it.
  MD_ASSIGN_OR_RETURN(app->generated_token_,
                      app->operator_auth_->Initialize(secrets.bootstrap_token, *app->random_));
  return app;
}

App::~App() = default;

Status App::Run() {
  log::Info("listening", {{"host", config_.listen_host},
                          {"port", port_},
                          {"data_dir", config_.data_dir},
                          {"workers", config_.worker_threads}});
  // Before the sweeper: a spent hold whose lease ended while the service was down is captured
  // late, not written down as lapsed.
  CaptureClosedPayments();
  authorizer_->StartSweeper();
  session_pruner_->Start();
  tenant_pruner_->Start();
  if (Result<size_t> pending = facilitator_->RetryCaptures(); !pending.ok()) {
    log::Warn("x402 captures left pending", {{"error", pending.error().ToString()}});
  }
  if (settlement_ && settlement_->worker()) settlement_->worker()->Start();
  audit_->StartBackground(config_.audit_sequence_ms, config_.audit_checkpoint_s);
  Status served = http_->Serve();
  if (settlement_ && settlement_->worker()) settlement_->worker()->Stop();
  authorizer_->StopSweeper();
  session_pruner_->Stop();
  tenant_pruner_->Stop();
  audit_->StopBackground();
  Status flushed = store_->Flush();
  log::Info("stopped", {{"flush", flushed.ok() ? std::string("ok") : flushed.ToString()}});
  MD_RETURN_IF_ERROR(served);
  return flushed;
}

void App::Stop() { http_->Stop(); }

void App::RegisterRoutes() {
  RegisterKeyRoutes();
  router_.Add("GET", "/healthz", [](Request&) {
    json::Value body = json::Value::Object();
    body.Set("status", json::Value::String("ok"));
    return JsonResponse(200, body);
  });
  router_.Add("GET", "/readyz", [this](Request& req) {
    if (http_->draining()) {
      return ProblemResponse(UnavailableError("shutting down", "draining"), req);
    }
    json::Value body = json::Value::Object();
    body.Set("status", json::Value::String("ready"));
    return JsonResponse(200, body);
  });
  router_.Add("GET", "/metrics", [this](Request&) {
    return Response::Text(200, metrics_.RenderPrometheus(), "text/plain; version=0.0.4");
  });

  RegisterPrincipalRoutes();
  RegisterIdentityRoutes();
  RegisterMandateRoutes();
  RegisterAuthorizationRoutes();
  RegisterAuditRoutes();
  RegisterBackupRoutes();
  RegisterX402Routes();
  RegisterLedgerRoutes();
  RegisterUsageRoutes();
  RegisterAp2Routes();
}

void App::RegisterPrincipalRoutes() {
  using identity::Permission;
  const AccessGuard& g = *guard_;
  router_.Add("POST", "/v1/principals", g.Guard(Permission::kManagePrincipals, [this](Request& req, const Access&) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<identity::Principal> p = identity::ParseCreatePrincipal(*body);
    if (!p.ok()) return ProblemResponse(p.error(), req);
    Result<identity::Principal> created = principals_->Create(std::move(*p));
    if (!created.ok()) return ProblemResponse(created.error(), req);
    Response r = JsonResponse(201, identity::PrincipalToJson(*created));
    r.headers.emplace_back("Location", "/v1/principals/" + created->id);
    return r;
  }));
  router_.Add("GET", "/v1/principals", g.Guard(Permission::kManagePrincipals, [this](Request& req, const Access&) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<identity::Principal>> list = principals_->List(page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const identity::Principal& p : *list) items.Append(identity::PrincipalToJson(p));
    return ListResponse(std::move(items), list->size() == page->limit, list->empty() ? "" : list->back().id);
  }));
  router_.Add("GET", "/v1/principals/{principal}", g.Guard(Permission::kReadPrincipal, [this](Request& req, const Access&) {
    return Answer(principals_->Get(req.Param("principal")), req, 200, identity::PrincipalToJson);
  }));
}

}  // namespace mandated::api
