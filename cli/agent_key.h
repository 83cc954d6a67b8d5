// An agent's key file (written by `mandatectl agent keygen`) and the session assertion signed
// with it (specs/access.md §The agent's assertion).
//
// Key file: a JSON object {"type": "Ed25519"|"P-256"|"secp256k1", "private_key_hex": "<64 hex>"},
// mode 0600. Its bytes are only ever held in SecretBytes, which wipe themselves.
#pragma once

#include <cstdint>
#include <string>

#include "base/random.h"
#include "base/result.h"
#include "signer/keys.h"

namespace mandated::cli {

// Writes `key` to a new file at `path` with mode 0600. kAlreadyExists when the path exists
// (never overwritten); kUnavailable on any other I/O failure.
Status WriteKeyFile(const std::string& path, const signer::PrivateKey& key);

// Reads a key file. kInvalidArgument ("bad-key-file") when it is not the format above or the
// key is invalid; kUnavailable when it cannot be read.
Result<signer::PrivateKey> ReadKeyFile(const std::string& path);

// The did:key of a private key's public half.
Result<std::string> DidKeyOf(const signer::PrivateKey& key);

// A compact JWT asserting the key's did:key to `audience` (the service DID): header {alg, typ
// "JWT", kid = the did:key verification method}; claims iss = sub = did:key, aud, iat = `now`,
// exp = now + 120, jti = 24 random base64url characters.
Result<std::string> SessionAssertion(const signer::PrivateKey& key, const std::string& audience,
                                     int64_t now, Random& random);

}  // namespace mandated::cli
