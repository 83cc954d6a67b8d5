// Helpers for the mandate tests: parse JSON text into terms, and edit JSON by path.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "base/json.h"
#include "mandates/model.h"

namespace mandated::mandates::testutil {

inline json::Value JsonOf(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().ToString()) << "\n" << text;
  return v.ok() ? std::move(v).value() : json::Value();
}

inline MandateTerms TermsOf(const json::Value& v) {
  Result<MandateTerms> t = ParseMandateTerms(v);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().ToString()) << "\n" << json::Write(v);
  return t.ok() ? std::move(t).value() : MandateTerms();
}

inline MandateTerms TermsOf(std::string_view text) { return TermsOf(JsonOf(text)); }

// The value at `path` (object keys, or decimal indexes into arrays); fails the test if absent.
inline json::Value* At(json::Value& v, std::initializer_list<std::string_view> path) {
  json::Value* cur = &v;
  for (std::string_view token : path) {
    if (cur->is_array()) {
      const size_t i = static_cast<size_t>(std::stoul(std::string(token)));
      if (i >= cur->items().size()) {
        ADD_FAILURE() << "no index " << token;
        return cur;
      }
      cur = &cur->items()[i];
    } else {
      json::Value* next = cur->Find(token);
      if (next == nullptr) {
        ADD_FAILURE() << "no member " << token;
        return cur;
      }
      cur = next;
    }
  }
  return cur;
}

// A copy of object `obj` without member `key`.
inline json::Value Without(const json::Value& obj, std::string_view key) {
  json::Value out = json::Value::Object();
  for (size_t i = 0; i < obj.keys().size(); ++i) {
    if (obj.keys()[i] != key) {
      out.Set(obj.keys()[i], obj.items()[i]);
    }
  }
  return out;
}

// Removes member `key` of the object at `path`.
inline void Remove(json::Value& v, std::initializer_list<std::string_view> path,
                   std::string_view key) {
  json::Value* obj = At(v, path);
  *obj = Without(*obj, key);
}

}  // namespace mandated::mandates::testutil
