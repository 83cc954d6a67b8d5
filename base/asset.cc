// Syntax checks for ISO 4217, CAIP-2 and CAIP-19 identifiers (CAIP-2 and CAIP-19 grammars).
#include "base/asset.h"

#include <string>

namespace mandated {
namespace {

bool AllOf(std::string_view s, size_t min, size_t max, bool (*ok)(char)) {
  if (s.size() < min || s.size() > max) {
    return false;
  }
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool LowerDigitDash(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool RefChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
bool AssetRefChar(char c) { return RefChar(c) || c == '.' || c == '%'; }

// namespace:reference with CAIP-2 limits.
bool IsChainId(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  return AllOf(s.substr(0, colon), 3, 8, LowerDigitDash) &&
         AllOf(s.substr(colon + 1), 1, 32, RefChar);
}

}  // namespace

Status ValidateNetworkId(std::string_view network) {
  if (!IsChainId(network)) {
    return InvalidArgumentError("network \"" + std::string(network) +
                                    "\" is not a CAIP-2 chain id (e.g. eip155:8453)",
                                "bad-network");
  }
  return OkStatus();
}

std::string CanonicalAssetId(std::string_view asset) {
  std::string out(asset);
  if (out.rfind("eip155:", 0) != 0) return out;
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool SameAssetId(std::string_view a, std::string_view b) {
  if (a == b) return true;
  if (a.size() != b.size() || a.rfind("eip155:", 0) != 0 || b.rfind("eip155:", 0) != 0) {
    return false;
  }
  return CanonicalAssetId(a) == CanonicalAssetId(b);
}

Status ValidateAssetId(std::string_view asset) {
  if (asset.size() == 3 && asset[0] >= 'A' && asset[0] <= 'Z' && asset[1] >= 'A' &&
      asset[1] <= 'Z' && asset[2] >= 'A' && asset[2] <= 'Z') {
    return OkStatus();
  }
  size_t slash = asset.find('/');
  if (slash != std::string_view::npos && IsChainId(asset.substr(0, slash))) {
    std::string_view rest = asset.substr(slash + 1);
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos && AllOf(rest.substr(0, colon), 3, 8, LowerDigitDash) &&
        AllOf(rest.substr(colon + 1), 1, 128, AssetRefChar)) {
      return OkStatus();
    }
  }
  return InvalidArgumentError("asset \"" + std::string(asset) +
                                  "\" is neither an ISO 4217 code nor a CAIP-19 asset id",
                              "bad-asset");
}

}  // namespace mandated
