// One machine-readable reason in a verification or purchase verdict (specs/mandate.md §7).
#pragma once

#include <string>

#include "base/json.h"

namespace mandated::mandates {

// Thread safety: value type.
struct Reason {
  std::string code;     // a slug from specs/mandate.md §7 ("expired", "payee-not-allowed", ...)
  std::string mandate;  // the mandate id ("mnd_..."), or "" when the token could not be read
  std::string pointer;  // JSON pointer into that mandate's credential payload, when one applies
  std::string detail;   // one human-readable sentence
  friend bool operator==(const Reason&, const Reason&) = default;
};

// {"code","mandate"?,"pointer"?,"detail"}: empty members are left out.
json::Value ReasonToJson(const Reason& reason);

}  // namespace mandated::mandates
