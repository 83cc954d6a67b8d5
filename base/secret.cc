// SecretBytes wiping.
#include "base/secret.h"

#include <string.h>

namespace mandated {

void SecureWipe(void* p, size_t n) {
  if (p != nullptr && n != 0) {
    explicit_bzero(p, n);
  }
}

SecretBytes SecretBytes::Adopt(Bytes&& data) {
  SecretBytes s(ByteSpan(data.data(), data.size()));
  SecureWipe(data.data(), data.size());
  data.clear();
  return s;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

void SecretBytes::Wipe() {
  SecureWipe(data_.data(), data_.capacity() > 0 ? data_.size() : 0);
  data_.clear();
}

}  // namespace mandated
