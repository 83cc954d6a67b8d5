// InProcessService: the real service (api::App) run on a loopback port inside the test process,
// with an operator token, a temp data directory and, optionally, a fake clock; for tests that
// look at its storage or move its time. Tests of the shipped binary use ServerProcess instead.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "api/app.h"
#include "api/config.h"
#include "base/bytes.h"
#include "base/secret.h"

namespace mandated::testing {

// Thread safety: use from the test's thread; the service serves on its own.
class InProcessService {
 public:
  // Starts serving on 127.0.0.1 (any free port) with `data_dir`, rate limits high enough that
  // no test meets them (they have their own tests), and `clock` (null: the system clock).
  // `tweak`, if set, changes the configuration last (e.g. a fixed public_host, so the service
  // DID survives a restart on a new port). `wrap_store`, if set, wraps the opened store (a
  // test injecting storage faults; what it wraps must outlive Stop()). Fails the current test
  // (and leaves app() null) if the service does not start.
  void Start(const std::string& data_dir, const std::string& operator_token,
             Clock* clock = nullptr,
             const std::function<void(api::ServerConfig&)>& tweak = nullptr,
             const api::App::StoreWrapper& wrap_store = nullptr) {
    api::ServerConfig config;
    config.data_dir = data_dir;
    config.listen_host = "127.0.0.1";
    config.listen_port = 0;
    config.worker_threads = 4;
    for (const char* role : {"operator", "admin", "approver", "auditor", "merchant", "agent"}) {
      config.rate_limits[role] = identity::RateLimit{1000000, 1000000};
    }
    if (tweak) {
      tweak(config);
    }
    api::App::Secrets secrets;
    secrets.bootstrap_token = SecretBytes(AsBytes(std::string_view(operator_token)));
    Result<std::unique_ptr<api::App>> app = api::App::Start(config, std::move(secrets), clock, wrap_store);
    ASSERT_TRUE(app.ok()) << app.error().ToString();
    app_ = std::move(*app);
    server_ = std::thread([this] { run_status_ = app_->Run(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", app_->port());
    client_->set_keep_alive(true);
    client_->set_tcp_nodelay(true);
    client_->set_read_timeout(10, 0);
  }

  // Stops serving and closes the store; checks the service stopped cleanly. Idempotent.
  void Stop() {
    if (app_ == nullptr) {
      return;
    }
    client_.reset();
    app_->Stop();
    server_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
    app_.reset();
  }

  ~InProcessService() { Stop(); }

  api::App* app() const { return app_.get(); }
  httplib::Client& client() const { return *client_; }
  int port() const { return app_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

 private:
  std::unique_ptr<api::App> app_;
  std::thread server_;
  Status run_status_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace mandated::testing
