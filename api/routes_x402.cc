// PLACEHOLDER: x402 routes (specs/x402.md); replaced by the work that builds them.
#include "api/app.h"

namespace mandated::api {

void App::RegisterX402Routes() {}

}  // namespace mandated::api
