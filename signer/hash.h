// Message digests (SHA-2) and HMAC-SHA256 over OpenSSL (hash_openssl.cc).
#pragma once

#include "base/bytes.h"

namespace mandated::signer {

// These functions have no failure mode for valid inputs: OpenSSL only fails them when it cannot
// allocate or its default provider is missing, which this process cannot recover from. In that
// case they print the OpenSSL error queue to stderr and abort, rather than return a Status
// every caller would have to thread through.
// Thread safety: stateless; safe to call from any thread.

Bytes Sha256(ByteSpan data);  // 32 bytes
Bytes Sha384(ByteSpan data);  // 48 bytes
Bytes Sha512(ByteSpan data);  // 64 bytes

// HMAC (RFC 2104) with SHA-256; any key length (long keys are hashed first). 32 bytes.
Bytes HmacSha256(ByteSpan key, ByteSpan data);

}  // namespace mandated::signer
