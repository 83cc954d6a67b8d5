// Asset and network identifiers (DESIGN §3): ISO 4217 currency codes and CAIP-19 / CAIP-2 ids.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace mandated {

// OK for "USD"-style ISO 4217 codes (three upper-case letters) and CAIP-19 asset ids
// ("eip155:8453/erc20:0x8335..."); kInvalidArgument ("bad-asset") otherwise.
Status ValidateAssetId(std::string_view asset);

// The one spelling of an asset id that storage keys and comparisons use: CAIP-19 ids on eip155
// chains name a hexadecimal address, which is case-insensitive, so they are lower-cased
// ("eip155:8453/erc20:0x833589fCD6..." and "...0x833589fcd6..." are one asset, as the x402
// facilitator names it); any other id is returned as it is.
std::string CanonicalAssetId(std::string_view asset);
// Whether two asset ids name one asset: equal in their canonical spelling.
bool SameAssetId(std::string_view a, std::string_view b);

// OK for CAIP-2 chain ids ("eip155:8453"); kInvalidArgument ("bad-network") otherwise.
Status ValidateNetworkId(std::string_view network);

}  // namespace mandated
