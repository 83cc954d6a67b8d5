// SecretBytes: a move-only buffer for key material and tokens that wipes itself and never prints.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/bytes.h"

namespace mandated {

// Thread safety: not synchronized; one owner at a time (move-only).
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n) : data_(n, 0) {}
  explicit SecretBytes(ByteSpan data) : data_(data.begin(), data.end()) {}
  // Takes the bytes and wipes the source vector.
  static SecretBytes Adopt(Bytes&& data);
  ~SecretBytes() { Wipe(); }

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) { other.data_.clear(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept;

  ByteSpan span() const { return ByteSpan(data_.data(), data_.size()); }
  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  // A view as characters; the caller must not copy it into long-lived storage.
  std::string_view chars() const { return AsChars(span()); }

  // Explicit copy, so copies of secrets are visible in review.
  SecretBytes Clone() const { return SecretBytes(span()); }

  bool Equals(ByteSpan other) const { return ConstantTimeEquals(span(), other); }

  void Wipe();

 private:
  std::vector<uint8_t> data_;
};

// Overwrites memory in a way the compiler may not elide.
void SecureWipe(void* p, size_t n);

}  // namespace mandated
