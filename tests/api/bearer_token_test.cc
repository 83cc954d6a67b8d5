// The bearer token as the access guard reads it (specs/api.md §Authentication): the scheme in
// any case, one or more spaces, read in place (no copy of the secret), and wiped from the
// request once checked.
#include <gtest/gtest.h>

#include <string>

#include "api/handler_util.h"
#include "api/http_types.h"

namespace mandated::api {
namespace {

Request WithAuthorization(const std::string& value) {
  Request req;
  req.headers.emplace("authorization", value);
  req.headers.emplace("content-type", "application/json");
  return req;
}

TEST(BearerToken, ReadsTheTokenInPlace) {
  const Request req = WithAuthorization("Bearer  mdt_crd_abc.def");
  const std::string_view token = BearerToken(req);
  EXPECT_EQ(token, "mdt_crd_abc.def");
  // A view into the header's own characters, not a copy.
  const std::string& header = req.headers.find("authorization")->second;
  EXPECT_EQ(token.data(), header.data() + 8);
  EXPECT_EQ(BearerToken(WithAuthorization("bEaReR x")), "x");
  EXPECT_EQ(BearerToken(WithAuthorization("Bearer")), "");
  EXPECT_EQ(BearerToken(WithAuthorization("Bearer ")), "");
  EXPECT_EQ(BearerToken(WithAuthorization("Basic dXNlcjpwYXNz")), "");
  EXPECT_EQ(BearerToken(WithAuthorization("Bearerx token")), "");
  EXPECT_EQ(BearerToken(Request()), "");
}

TEST(BearerToken, WipeRemovesEveryAuthorizationHeaderAndKeepsTheOthers) {
  Request req = WithAuthorization("Bearer first-secret");
  req.headers.emplace("authorization", "Bearer second-secret");
  WipeAuthorization(req);
  EXPECT_EQ(req.headers.count("authorization"), 0u);
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(BearerToken(req), "");
  WipeAuthorization(req);  // nothing left: a no-op
  EXPECT_EQ(req.headers.size(), 1u);
}

}  // namespace
}  // namespace mandated::api
