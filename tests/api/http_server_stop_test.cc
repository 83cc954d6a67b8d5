// HttpServer: a stop that comes right after the server was bound (a SIGTERM at once after the
// "listening" line) ends Serve, whether it lands before Serve began, before its accept loop
// ran, or while it runs.
#include <gtest/gtest.h>

#include <thread>

#include "api/http_server.h"
#include "api/metrics.h"
#include "api/router.h"

namespace mandated::api {
namespace {

// Each round binds a server, starts Serve on another thread and stops it at once: Serve
// returns OK every time (before the fix, a stop before the accept loop was lost now and then,
// and Serve ran on until the test timed out).
TEST(HttpServerStop, AStopRightAfterBindAlwaysEndsServe) {
  Router router;
  Metrics metrics;
  for (int round = 0; round < 200; ++round) {
    HttpServerOptions o;
    o.worker_threads = 2;
    HttpServer server(o, router, metrics);
    ASSERT_TRUE(server.Bind("127.0.0.1", 0).ok());
    Status served = OkStatus();
    std::thread serving([&] { served = server.Serve(); });
    if (round % 2 == 1) std::this_thread::yield();
    server.Stop();
    serving.join();
    ASSERT_TRUE(served.ok()) << "round " << round << ": " << served.ToString();
    EXPECT_TRUE(server.draining());
  }
}

// A stop before Serve was called at all: Serve returns at once.
TEST(HttpServerStop, AStopBeforeServeMakesServeReturn) {
  Router router;
  Metrics metrics;
  HttpServer server(HttpServerOptions{}, router, metrics);
  ASSERT_TRUE(server.Bind("127.0.0.1", 0).ok());
  server.Stop();
  EXPECT_TRUE(server.Serve().ok());
}

}  // namespace
}  // namespace mandated::api
