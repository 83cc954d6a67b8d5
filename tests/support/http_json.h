// Reading JSON answers in HTTP tests: the parsed body of a response, failing the test (not
// crashing) when there is no response or the body is not JSON.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include "base/json.h"

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

}  // namespace mandated::testing
