// Request helpers.
#include "api/http_types.h"

#include <algorithm>
#include <cctype>

namespace mandated::api {

std::string Request::Header(std::string_view name) const {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto it = headers.find(lower);
  return it == headers.end() ? std::string() : it->second;
}

}  // namespace mandated::api
