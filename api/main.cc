// mandated: the server binary. Parses configuration, starts the App, stops it on SIGTERM/SIGINT.
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "api/config.h"
#include "base/log.h"
#include "base/secret.h"

namespace {

constexpr char kBootstrapTokenVar[] = "MANDATED_BOOTSTRAP_TOKEN";

// Copies MANDATED_BOOTSTRAP_TOKEN (if set and not empty) into a SecretBytes and takes it out of
// the process: the variable is unset, so children do not inherit it, and every
// "MANDATED_BOOTSTRAP_TOKEN=..." entry of the environment is overwritten with zeros where it lies,
// since /proc/<pid>/environ shows the memory of the initial environment whatever environ says.
// REQUIRES: no other thread exists yet (the environment is not thread-safe).
std::optional<mandated::SecretBytes> TakeBootstrapToken() {
  const size_t name_size = strlen(kBootstrapTokenVar);
  std::vector<char*> entries;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, kBootstrapTokenVar, name_size) == 0 && (*e)[name_size] == '=') {
      entries.push_back(*e);
    }
  }
  std::optional<mandated::SecretBytes> token;
  if (const char* t = getenv(kBootstrapTokenVar); t != nullptr && *t != '\0') {
    token.emplace(mandated::AsBytes(t));
  }
  unsetenv(kBootstrapTokenVar);  // no environ entry points at the texts below any more
  for (char* e : entries) {
    mandated::SecureWipe(e, strlen(e));
  }
  return token;
}

int RealMain(int argc, char** argv) {
  using mandated::api::App;
  // First, before any thread starts and whatever the outcome: the token leaves the environment.
  std::optional<mandated::SecretBytes> bootstrap_token = TakeBootstrapToken();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = mandated::api::LoadServerConfig(args, [](const char* n) { return getenv(n); });
  if (!parsed.ok()) {
    fprintf(stderr, "mandated: %s\n", parsed.error().message().c_str());
    return 2;
  }
  if (parsed->show_help) {
    fputs(mandated::api::ServerUsage().c_str(), stdout);
    return 0;
  }
  if (parsed->show_version) {
    printf("mandated %s\n", MANDATED_VERSION);
    return 0;
  }
  const mandated::api::ServerConfig& cfg = parsed->config;
  if (auto level = mandated::log::ParseLevel(cfg.log_level); level.ok()) {
    mandated::log::SetMinLevel(*level);
  }

  // Buffers of up to 32 MiB (request bodies, usage batches, audit passes, RocksDB write
  // batches) come from the heap and go back to it, instead of each being a fresh mmap whose
  // every page faults in on first touch and is unmapped on free; up to 64 MiB of freed memory
  // stays mapped for reuse.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  App::Secrets secrets;
  secrets.bootstrap_token = std::move(bootstrap_token);
  auto app = App::Start(cfg, std::move(secrets));
  if (!app.ok()) {
    mandated::log::Error("cannot start", {{"error", app.error().ToString()}});
    fprintf(stderr, "mandated: cannot start: %s\n", app.error().ToString().c_str());
    // A setting refused at start (the settlement file, the operator token) is a configuration
    // error like any other (specs/config.md): 2; anything else that stops the start, 1.
    return app.error().reason() == "bad-config" ? 2 : 1;
  }
  if (auto token = (*app)->TakeGeneratedToken(); token.has_value()) {
    // Shown once, on standard output only (never in the log stream).
    const int shown =
        printf("\nmandated: created the operator token. It is shown once; store it now:\n\n  %.*s\n\n",
               static_cast<int>(token->size()), reinterpret_cast<const char*>(token->data()));
    if (shown < 0 || fflush(stdout) != 0) {
      // Its hash is stored: no later start makes another. Say how to get in (never the token).
      mandated::log::Error(
          "the generated operator token could not be written to standard output and is lost; "
          "stop the service and start it with MANDATED_BOOTSTRAP_TOKEN set to a token of your "
          "own (specs/config.md)",
          {});
    }
  }

  std::thread watcher([&stop_signals, a = app->get()] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    mandated::log::Info("stopping", {{"signal", sig}});
    a->Stop();
  });
  mandated::Status s = (*app)->Run();
  // Wake the watcher if Run ended without a signal.
  if (watcher.joinable()) {
    pthread_kill(watcher.native_handle(), SIGTERM);
    watcher.join();
  }
  app->reset();
  if (!s.ok()) {
    fprintf(stderr, "mandated: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return RealMain(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "mandated: fatal: %s\n", e.what());
    return 70;
  }
}
