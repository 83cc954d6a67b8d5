// Calling the service's JSON API in HTTP tests: the parsed body of a response, failing the test
// (not crashing) when there is no response or the body is not JSON; one request with a bearer
// token and an Idempotency-Key as received (Send) or checked against a status (Call); and a
// principal with its admin, made by the operator.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <string>

#include "base/json.h"

#include "tests/support/test_support.h"

namespace mandated::testing {

inline json::Value ResponseJson(const httplib::Result& r) {
  if (!r) {
    ADD_FAILURE() << "no response";
    return json::Value();
  }
  Result<json::Value> v = json::Parse(r->body);
  EXPECT_TRUE(v.ok()) << r->body;
  return v.ok() ? *v : json::Value();
}

// An HTTP answer as received: status, raw body, parsed body (an empty object when the body is
// not JSON) and the headers the tests look at.
struct Reply {
  int status = 0;
  std::string body;
  json::Value json;
  std::string replayed;      // the Idempotent-Replayed header
  std::string content_type;  // the Content-Type header
};

// GET `path` when `method` is "GET", else POST `body` as application/json, over `client`, with
// `token` as bearer credential and `idempotency_key` as Idempotency-Key (each header left out
// when empty). Fails the current test (returning status 0) when there is no response.
inline Reply Send(httplib::Client& client, const std::string& method, const std::string& path,
                  const std::string& token, const std::string& body = "",
                  const std::string& idempotency_key = "") {
  httplib::Headers h;
  if (!token.empty()) {
    h.emplace("Authorization", "Bearer " + token);
  }
  if (!idempotency_key.empty()) {
    h.emplace("Idempotency-Key", idempotency_key);
  }
  httplib::Result r =
      method == "GET" ? client.Get(path, h) : client.Post(path, h, body, "application/json");
  Reply out;
  if (!r) {
    ADD_FAILURE() << method << " " << path << ": no response";
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.replayed = r->get_header_value("Idempotent-Replayed");
  out.content_type = r->get_header_value("Content-Type");
  Result<json::Value> v = json::Parse(r->body);
  out.json = v.ok() ? *v : json::Value::Object();
  return out;
}

// Send, expecting status `want` (a failure of the current test names the request and the
// answer); returns the parsed body.
inline json::Value Call(httplib::Client& client, const std::string& method,
                        const std::string& path, const std::string& token,
                        const std::string& body, int want,
                        const std::string& idempotency_key = "") {
  Reply r = Send(client, method, path, token, body, idempotency_key);
  EXPECT_EQ(r.status, want) << method << " " << path << " " << body << " -> " << r.body;
  return r.json;
}

// A principal with its admin: the principal's id, its path ("/v1/principals/<id>") and the
// token of an admin credential.
struct PrincipalWithAdmin {
  std::string id;
  std::string base;
  std::string admin;
};

// Creates a principal from `principal_body` (the JSON of POST /v1/principals), its user "ada"
// with the admin role and an admin credential for that user, all with `operator_token`, each
// expected to answer 201. Fields of a request that failed are "".
inline PrincipalWithAdmin CreatePrincipalWithAdmin(httplib::Client& client,
                                                   const std::string& operator_token,
                                                   const std::string& principal_body) {
  PrincipalWithAdmin p;
  p.id = StringField(Call(client, "POST", "/v1/principals", operator_token, principal_body, 201),
                     "id");
  p.base = "/v1/principals/" + p.id;
  const std::string user =
      StringField(Call(client, "POST", p.base + "/users", operator_token,
                       R"({"name":"ada","roles":["admin"]})", 201),
                  "id");
  p.admin = StringField(Call(client, "POST", p.base + "/credentials", operator_token,
                             R"({"role":"admin","user":")" + user + R"("})", 201),
                        "token");
  return p;
}

}  // namespace mandated::testing
