// SystemRandom over getrandom(2), and id generation.
#include "base/random.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <cstring>

namespace mandated {

Result<Bytes> Random::Generate(size_t n) {
  Bytes out(n);
  MD_RETURN_IF_ERROR(Fill(std::span<uint8_t>(out.data(), out.size())));
  return out;
}

Result<std::string> Random::NewId(std::string_view prefix) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  MD_ASSIGN_OR_RETURN(Bytes raw, Generate(17));
  std::string id(prefix);
  // 26 characters of 5 bits = 130 bits drawn from 136 random bits.
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  while (id.size() < prefix.size() + 26) {
    if (bits < 5) {
      acc = (acc << 8) | raw[i++];
      bits += 8;
    }
    bits -= 5;
    id.push_back(kAlphabet[(acc >> bits) & 31]);
  }
  return id;
}

namespace {

Status FillFromKernel(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return UnavailableError("getrandom failed");
    }
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

// Small requests (ids, nonces, 32-byte keys) are served from a per-thread block of kernel
// randomness, one getrandom(2) per block instead of one per request: ids are minted on every
// decision. Served bytes are wiped from the block at once. Not for a process that forks
// without exec (the child would repeat the block); mandated does not.
constexpr size_t kBlock = 512;
constexpr size_t kSmall = 64;

struct Block {
  uint8_t bytes[kBlock];
  size_t used = kBlock;  // empty
  ~Block() { explicit_bzero(bytes, sizeof(bytes)); }
};

}  // namespace

Status SystemRandom::Fill(std::span<uint8_t> out) {
  if (out.size() > kSmall) {
    return FillFromKernel(out);
  }
  thread_local Block block;
  if (kBlock - block.used < out.size()) {
    MD_RETURN_IF_ERROR(FillFromKernel(std::span<uint8_t>(block.bytes, kBlock)));
    block.used = 0;
  }
  std::memcpy(out.data(), block.bytes + block.used, out.size());
  explicit_bzero(block.bytes + block.used, out.size());
  block.used += out.size();
  return OkStatus();
}

SystemRandom& SystemRandom::Get() {
  static SystemRandom* random = new SystemRandom();
  return *random;
}

}  // namespace mandated
