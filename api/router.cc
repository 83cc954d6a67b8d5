// Router implementation: linear match over a small route table.
#include "api/router.h"

namespace mandated::api {
namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) {
      j = path.size();
    }
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler) {
  Route r{std::move(method), pattern, Split(pattern), std::move(handler)};
  routes_.push_back(std::move(r));
}

bool Router::MatchSegments(const std::vector<std::string>& pattern,
                           const std::vector<std::string>& path,
                           std::map<std::string, std::string>* params) {
  if (pattern.size() != path.size()) {
    return false;
  }
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
      if (path[i].empty()) {
        return false;
      }
      if (params != nullptr) {
        (*params)[p.substr(1, p.size() - 2)] = path[i];
      }
    } else if (p != path[i]) {
      return false;
    }
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(routes_.size());
  for (const Route& r : routes_) {
    out.emplace_back(r.method, r.pattern);
  }
  return out;
}

Router::Match Router::Find(Request& request) const {
  Match m;
  if (request.path.empty() || request.path[0] != '/') {
    return m;
  }
  const std::vector<std::string> segments = Split(request.path);
  for (const Route& r : routes_) {
    if (!MatchSegments(r.segments, segments, nullptr)) {
      continue;
    }
    m.path_known = true;
    if (m.route.empty()) {
      m.route = r.pattern;
    }
    if (r.method == request.method || (request.method == "HEAD" && r.method == "GET")) {
      if (m.handler == nullptr) {
        m.handler = &r.handler;
        m.route = r.pattern;
        MatchSegments(r.segments, segments, &request.params);
      }
    }
    if (m.allowed.find(r.method) == std::string::npos) {
      m.allowed += (m.allowed.empty() ? "" : ", ") + r.method;
    }
  }
  return m;
}

}  // namespace mandated::api
