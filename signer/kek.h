// The key-encryption key (KEK) that seals private keys at rest: where it comes from and how it is
// checked (specs/signing.md §Key store).
#pragma once

#include <string>

#include "base/result.h"
#include "base/secret.h"

namespace mandated::signer {

struct KekSource {
  std::string file;      // MANDATED_KEK_FILE / --kek-file: 64 hex characters (32 bytes), mode 0600
  std::string data_dir;  // used by development mode only
};

struct LoadedKek {
  SecretBytes key;           // 32 bytes
  std::string path;          // the file it came from
  bool created_for_development = false;
};

// With source.file set: reads it; refuses a missing file, wrong content or a file that group or
// others may read (kFailedPrecondition, reason "bad-kek"). With no file configured: development
// mode uses "<data_dir>.kek" beside (never inside) the data directory, creating it with mode 0600
// if absent (and its missing parent directories), then syncing the file and the directory
// entries made for it, so a crash cannot lose a KEK that keys were already sealed under. The
// caller must log loudly when created_for_development is set.
Result<LoadedKek> LoadKek(const KekSource& source);

}  // namespace mandated::signer
