// Adapter: OpenSSL error queue draining shared by the OpenSSL-based signer files.
#include "signer/openssl_errors.h"

#include <openssl/err.h>

namespace mandated::signer::internal {

std::string DrainOpensslErrors() {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += out.empty() ? ": " : "; ";
    out += buf;
  }
  return out;
}

}  // namespace mandated::signer::internal
