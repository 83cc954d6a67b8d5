// SystemRandom over getrandom(2), and id generation.
#include "base/random.h"

#include <errno.h>
#include <sys/random.h>

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

Status SystemRandom::Fill(std::span<uint8_t> out) {
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

SystemRandom& SystemRandom::Get() {
  static SystemRandom* random = new SystemRandom();
  return *random;
}

}  // namespace mandated
