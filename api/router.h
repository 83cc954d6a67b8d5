// Router: maps (method, path) to a handler by path pattern ("/v1/principals/{id}"), telling
// apart an unknown path (404) from a known path with the wrong method (405 + Allow).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "api/http_types.h"

namespace mandated::api {

using Handler = std::function<Response(Request&)>;

// Thread safety: Add before serving; Match is const and safe from many threads afterwards.
class Router {
 public:
  // REQUIRES: pattern starts with '/'; segments are literals or "{name}".
  void Add(std::string method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: see not_found / allowed
    std::string route;                 // the pattern matched ("" when none)
    bool path_known = false;           // some route has this path (405 when no handler)
    std::string allowed;               // "GET, POST" for a 405
  };
  // Fills request.params on a match.
  Match Find(Request& request) const;

  // Every registered (method, pattern) pair, in registration order. Lets tests check that each
  // route is covered (e.g. by the access table of tests/api/access_test.cc).
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool MatchSegments(const std::vector<std::string>& pattern,
                            const std::vector<std::string>& path,
                            std::map<std::string, std::string>* params);
  std::vector<Route> routes_;
};

}  // namespace mandated::api
