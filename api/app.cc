// Service composition and the routes of specs/api.md.
#include "api/app.h"

#include <filesystem>

#include "api/handler_util.h"
#include "api/problem.h"
#include "base/log.h"
#include "signer/kek.h"
#include "store/rocks_store.h"

namespace mandated::api {

Result<std::unique_ptr<App>> App::Start(const ServerConfig& config, Secrets secrets) {
  std::unique_ptr<App> app(new App());
  app->config_ = config;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return UnavailableError("cannot create data directory " + config.data_dir + ": " +
                                ec.message(),
                            "storage-io");
  }
  store::RocksStoreOptions so;
  so.path = config.data_dir + "/db";
  so.column_families = {identity::kPrincipalsFamily, identity::kOperatorFamily,
                        signer::kKeysFamily};
  MD_ASSIGN_OR_RETURN(app->store_, store::OpenRocksStore(so));

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
  if (Result<signer::KeyInfo> k = app->keys_->ActiveKey("service", "service"); !k.ok()) {
    if (k.error().code() != StatusCode::kNotFound) {
      return k.error();
    }
    MD_RETURN_IF_ERROR(
        app->keys_->Generate(signer::KeyType::kEd25519, "service", "service").status());
  }

  app->principals_ =
      std::make_unique<identity::PrincipalStore>(*app->store_, *app->clock_, *app->random_);
  app->operator_auth_ = std::make_unique<identity::OperatorAuth>(*app->store_);
  MD_ASSIGN_OR_RETURN(app->generated_token_,
                      app->operator_auth_->Initialize(secrets.bootstrap_token, *app->random_));

  app->RegisterRoutes();
  HttpServerOptions ho;
  ho.worker_threads = config.worker_threads;
  ho.max_body_bytes = config.max_body_bytes;
  ho.read_timeout_ms = config.read_timeout_ms;
  ho.write_timeout_ms = config.write_timeout_ms;
  ho.keepalive_timeout_s = config.keepalive_timeout_s;
  ho.keepalive_max_requests = config.keepalive_max_requests;
  app->http_ = std::make_unique<HttpServer>(ho, app->router_, app->metrics_);
  MD_ASSIGN_OR_RETURN(app->port_, app->http_->Bind(config.listen_host, config.listen_port));
  // did:web names the host; a port is percent-encoded (did:web method §3.2).
  std::string host = config.public_host;
  if (host.empty()) {
    host = config.listen_host + ":" + std::to_string(app->port_);
  }
  for (size_t at = host.find(':'); at != std::string::npos; at = host.find(':', at)) {
    host.replace(at, 1, "%3A");
  }
  app->service_did_ = "did:web:" + host;
  return app;
}

App::~App() = default;

Status App::Run() {
  log::Info("listening", {{"host", config_.listen_host},
                          {"port", port_},
                          {"data_dir", config_.data_dir},
                          {"workers", config_.worker_threads}});
  Status served = http_->Serve();
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

  // Principals: operator only (specs/api.md §Principals).
  router_.Add("POST", "/v1/principals", [this](Request& req) {
    if (Status s = operator_auth_->Check(BearerToken(req)); !s.ok()) {
      return ProblemResponse(s, req);
    }
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) {
      return ProblemResponse(body.error(), req);
    }
    Result<identity::Principal> p = identity::ParseCreatePrincipal(*body);
    if (!p.ok()) {
      return ProblemResponse(p.error(), req);
    }
    Result<identity::Principal> created = principals_->Create(std::move(*p));
    if (!created.ok()) {
      return ProblemResponse(created.error(), req);
    }
    Response r = JsonResponse(201, identity::PrincipalToJson(*created));
    r.headers.emplace_back("Location", "/v1/principals/" + created->id);
    return r;
  });
  router_.Add("GET", "/v1/principals", [this](Request& req) {
    if (Status s = operator_auth_->Check(BearerToken(req)); !s.ok()) {
      return ProblemResponse(s, req);
    }
    size_t limit = 100;
    if (std::string l = req.Query("limit"); !l.empty()) {
      Result<Amount> n = Amount::Parse(l);
      if (!n.ok() || n->is_zero() || *n > Amount::FromUint64(1000)) {
        return ProblemResponse(InvalidArgumentError("limit must be 1 to 1000", "bad-query"), req);
      }
      limit = static_cast<size_t>(n->low64());
    }
    Result<std::vector<identity::Principal>> list = principals_->List(req.Query("after"), limit);
    if (!list.ok()) {
      return ProblemResponse(list.error(), req);
    }
    json::Value items = json::Value::Array();
    for (const identity::Principal& p : *list) {
      items.Append(identity::PrincipalToJson(p));
    }
    json::Value body = json::Value::Object();
    body.Set("items", std::move(items));
    if (list->size() == limit && !list->empty()) {
      body.Set("next_after", json::Value::String(list->back().id));
    }
    return JsonResponse(200, body);
  });
  router_.Add("GET", "/v1/principals/{id}", [this](Request& req) {
    if (Status s = operator_auth_->Check(BearerToken(req)); !s.ok()) {
      return ProblemResponse(s, req);
    }
    Result<identity::Principal> p = principals_->Get(req.Param("id"));
    if (!p.ok()) {
      return ProblemResponse(p.error(), req);
    }
    return JsonResponse(200, identity::PrincipalToJson(*p));
  });
}

}  // namespace mandated::api
