// The HTTP request and response as handlers see them: plain structs, no HTTP library types.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mandated::api {

// Thread safety: value types, owned by the worker thread serving the request.
struct Request {
  std::string method;
  std::string path;
  std::string body;
  std::string remote_addr;
  std::string request_id;
  // Lower-cased header names.
  std::multimap<std::string, std::string> headers;
  // Path parameters captured by the route pattern ("{id}" -> value).
  std::map<std::string, std::string> params;
  std::multimap<std::string, std::string> query;

  // The first value of a header (name in any case), or "".
  std::string Header(std::string_view name) const;
  std::string Param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
  std::string Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
};

// Takes the next bytes of a streamed body; false when the client cannot take them.
using BodyWriter = std::function<bool(std::string_view bytes)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A body too large to hold in memory (specs/api.md §Transport rules, streamed bodies): when
  // set, `body` is sent first, then whatever `stream` writes, chunked. The status is sent before
  // `stream` runs, so a stream that fails (returns false) cannot change it: the connection is
  // closed without the last chunk and the client sees the body cut short, never a complete one.
  std::function<bool(const BodyWriter& write)> stream;

  static Response Json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static Response Text(int status, std::string body, std::string type = "text/plain; charset=utf-8") {
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = std::move(type);
    return r;
  }
};

}  // namespace mandated::api
