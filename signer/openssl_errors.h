// Internal to signer/ adapters: turns this thread's OpenSSL error queue into message text.
#pragma once

#include <string>

namespace mandated::signer::internal {

// Empties this thread's OpenSSL error queue into a readable suffix (": err; err"), or "".
std::string DrainOpensslErrors();

}  // namespace mandated::signer::internal
