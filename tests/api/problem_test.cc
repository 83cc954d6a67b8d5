// Unit tests of the problem+json mapping (api/problem.cc): what a failure shows a client.
#include <gtest/gtest.h>

#include <string>

#include "api/http_types.h"
#include "api/problem.h"
#include "base/json.h"
#include "base/status.h"

namespace mandated::api {
namespace {

std::string Field(const Response& r, const char* name) {
  Result<json::Value> v = json::Parse(r.body);
  if (!v.ok() || v->Find(name) == nullptr || !v->Find(name)->is_string()) return "";
  return v->Find(name)->as_string();
}

// Storage messages name files of the data directory: the client gets the problem type and the
// request id, the log gets the message.
// A problem echoing a client's bytes (an id from a path with %FF in it) is still UTF-8 JSON:
// `instance`, a URI reference, goes back percent-encoded, `detail` with U+FFFD for each bad byte.
TEST(ProblemResponseTest, EchoedBytesStayValidUtf8) {
  const Response r = ProblemResponse(404, "key-not-found", "", "no key k\xff\xc3",
                                     "/v1/keys/k\xff\x01 x", "req_1");
  Result<json::Value> v = json::Parse(r.body);  // the strict parser refuses bad UTF-8
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->Find("instance")->as_string(), "/v1/keys/k%FF%01%20x");
  EXPECT_EQ(v->Find("detail")->as_string(), "no key k\xef\xbf\xbd\xef\xbf\xbd");
  // Well-formed text is left as it is.
  const Response ok = ProblemResponse(404, "key-not-found", "", "no key caf\xc3\xa9", "/v1/keys/x", "");
  EXPECT_EQ(json::Parse(ok.body)->Find("detail")->as_string(), "no key caf\xc3\xa9");
}

TEST(ProblemResponseTest, StorageErrorsShowNeitherTheirMessageNorItsPaths) {
  Request req;
  req.path = "/v1/authorizations";
  req.request_id = "req_0123";
  const Response io = ProblemResponse(
      UnavailableError("IO error: While fsync: a file descriptor: /srv/mandated/db/000123.log",
                       "storage-io"),
      req);
  EXPECT_EQ(io.status, 503);
  EXPECT_EQ(io.content_type, "application/problem+json");
  EXPECT_EQ(Field(io, "type"), "urn:mandated:problem:storage-io");
  EXPECT_EQ(Field(io, "detail"), "storage is unavailable; quote the request id when reporting it");
  EXPECT_EQ(Field(io, "request_id"), "req_0123");
  EXPECT_EQ(io.body.find("/srv/mandated"), std::string::npos) << io.body;

  const Response full = ProblemResponse(
      ResourceExhaustedError("IO error: No space left on device: /srv/mandated/db/x.sst",
                             "storage-full"),
      req);
  EXPECT_EQ(full.status, 507);
  EXPECT_EQ(Field(full, "detail"), "storage is full; quote the request id when reporting it");
  EXPECT_EQ(full.body.find("/srv/mandated"), std::string::npos) << full.body;

  // Other 503s keep their detail: it is written for the client.
  const Response node = ProblemResponse(
      UnavailableError("no answer from https://rpc.example (Connection)", "rpc-unreachable"), req);
  EXPECT_EQ(node.status, 503);
  EXPECT_EQ(Field(node, "detail"), "no answer from https://rpc.example (Connection)");
}

}  // namespace
}  // namespace mandated::api
