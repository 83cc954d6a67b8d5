// Asset and network identifiers (DESIGN §3): ISO 4217 currency codes and CAIP-19 / CAIP-2 ids.
#pragma once

#include <string_view>

#include "base/status.h"

namespace mandated {

// OK for "USD"-style ISO 4217 codes (three upper-case letters) and CAIP-19 asset ids
// ("eip155:8453/erc20:0x8335..."); kInvalidArgument ("bad-asset") otherwise.
Status ValidateAssetId(std::string_view asset);

// OK for CAIP-2 chain ids ("eip155:8453"); kInvalidArgument ("bad-network") otherwise.
Status ValidateNetworkId(std::string_view network);

}  // namespace mandated
