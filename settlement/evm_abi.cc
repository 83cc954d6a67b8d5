// Solidity ABI encodings of the calls and the log the evm backend uses (specs/evm.md §2).
#include "settlement/evm_abi.h"

#include <algorithm>
#include <cstring>

#include "signer/keccak.h"

namespace mandated::settlement::abi {
namespace {

Status BadAbi(std::string what) { return InvalidArgumentError("abi: " + what, "bad-abi"); }

void Append(Bytes& out, const Word& w) { out.insert(out.end(), w.begin(), w.end()); }
void Append(Bytes& out, const std::array<uint8_t, 4>& s) { out.insert(out.end(), s.begin(), s.end()); }

Word ByteWord(uint8_t b) {
  Word w{};
  w[31] = b;
  return w;
}

Word Bytes32Word(const Nonce32& n) {
  Word w{};
  std::copy(n.begin(), n.end(), w.begin());
  return w;
}

// The nine static words of one transfer: from, to, value, validAfter, validBefore, nonce, v, r, s.
Status AppendTransferWords(Bytes& out, const SignedTransfer& t) {
  MD_ASSIGN_OR_RETURN(Vrs vrs, SplitSignature(t.signature));
  const Authorization3009& a = t.authorization;
  Append(out, AddressWord(a.from));
  Append(out, AddressWord(a.to));
  Append(out, UintWord(a.value.raw()));
  Append(out, UintWord(a.valid_after));
  Append(out, UintWord(a.valid_before));
  Append(out, Bytes32Word(a.nonce));
  Append(out, ByteWord(vrs.v));
  Append(out, vrs.r);
  Append(out, vrs.s);
  return OkStatus();
}

Result<Word> OneWord(ByteSpan ret) {
  if (ret.size() != 32) {
    return BadAbi("expected one 32-byte word, got " + std::to_string(ret.size()) + " bytes");
  }
  Word w{};
  std::copy(ret.begin(), ret.end(), w.begin());
  return w;
}

}  // namespace

std::array<uint8_t, 4> Selector(std::string_view signature) {
  const Bytes h = signer::Keccak256(AsBytes(signature));
  return {h[0], h[1], h[2], h[3]};
}

Word EventTopic(std::string_view signature) {
  const Bytes h = signer::Keccak256(AsBytes(signature));
  Word w{};
  std::copy(h.begin(), h.end(), w.begin());
  return w;
}

Word AddressWord(const Address& a) {
  Word w{};
  std::copy(a.begin(), a.end(), w.begin() + 12);
  return w;
}

Word UintWord(Uint128 v) {
  Word w{};
  for (int i = 31; i >= 16; --i) {
    w[static_cast<size_t>(i)] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return w;
}

Result<Vrs> SplitSignature(ByteSpan signature65) {
  if (signature65.size() != 65) {
    return InvalidArgumentError(
        "signature must be 65 bytes, got " + std::to_string(signature65.size()), "bad-signature");
  }
  Vrs out;
  std::copy(signature65.begin(), signature65.begin() + 32, out.r.begin());
  std::copy(signature65.begin() + 32, signature65.begin() + 64, out.s.begin());
  out.v = signature65[64];
  if (out.v == 0 || out.v == 1) {
    out.v = static_cast<uint8_t>(out.v + 27);
  }
  if (out.v != 27 && out.v != 28) {
    return InvalidArgumentError("signature v must be 27 or 28", "bad-signature");
  }
  return out;
}

Result<Bytes> TransferWithAuthorizationCall(const SignedTransfer& t) {
  Bytes out;
  out.reserve(4 + 9 * 32);
  Append(out, Selector(kTransferWithAuthorizationSig));
  MD_RETURN_IF_ERROR(AppendTransferWords(out, t));
  return out;
}

Result<Bytes> SettleBatchCall(const Address& token, const std::vector<SignedTransfer>& transfers) {
  Bytes out;
  out.reserve(4 + 32 * (3 + 9 * transfers.size()));
  Append(out, Selector(kSettleBatchSig));
  Append(out, AddressWord(token));
  // Head: the token, then the offset of the dynamic array (two head words = 64 bytes). Tail:
  // the array's length, then each static tuple in place.
  Append(out, UintWord(64));
  Append(out, UintWord(transfers.size()));
  for (const SignedTransfer& t : transfers) {
    if (t.token != token) {
      return InvalidArgumentError("a batch settles one token; transfer of " +
                                      AddressText(t.token) + " in a batch of " + AddressText(token),
                                  "mixed-tokens");
    }
    MD_RETURN_IF_ERROR(AppendTransferWords(out, t));
  }
  return out;
}

Bytes BalanceOfCall(const Address& owner) {
  Bytes out;
  Append(out, Selector(kBalanceOfSig));
  Append(out, AddressWord(owner));
  return out;
}

Bytes AuthorizationStateCall(const Address& authorizer, const Nonce32& nonce) {
  Bytes out;
  Append(out, Selector(kAuthorizationStateSig));
  Append(out, AddressWord(authorizer));
  Append(out, Bytes32Word(nonce));
  return out;
}

Bytes NoArgumentCall(std::string_view signature) {
  Bytes out;
  Append(out, Selector(signature));
  return out;
}

Result<std::string> DecodeString(ByteSpan ret) {
  if (ret.size() < 64 || ret.size() % 32 != 0) {
    return BadAbi("expected a string (offset, length, words), got " + std::to_string(ret.size()) +
                  " bytes");
  }
  for (size_t i = 0; i < 31; ++i) {
    if (ret[i] != 0) return BadAbi("string offset above 32");
  }
  if (ret[31] != 32) return BadAbi("string offset is not 32");
  for (size_t i = 32; i < 56; ++i) {
    if (ret[i] != 0) return BadAbi("string length too large");
  }
  uint64_t length = 0;
  for (size_t i = 56; i < 64; ++i) {
    length = (length << 8) | ret[i];
  }
  if (length > kMaxDecodedString) {
    return BadAbi("string of " + std::to_string(length) + " bytes, above the limit");
  }
  const size_t padded = (static_cast<size_t>(length) + 31) / 32 * 32;
  if (ret.size() != 64 + padded) {
    return BadAbi("string of " + std::to_string(length) + " bytes in " +
                  std::to_string(ret.size() - 64) + " bytes of data");
  }
  for (size_t i = 64 + static_cast<size_t>(length); i < ret.size(); ++i) {
    if (ret[i] != 0) return BadAbi("string padding is not zero");
  }
  return std::string(reinterpret_cast<const char*>(ret.data()) + 64, static_cast<size_t>(length));
}

Result<Amount> DecodeUint256(ByteSpan ret) {
  MD_ASSIGN_OR_RETURN(Word w, OneWord(ret));
  for (size_t i = 0; i < 16; ++i) {
    if (w[i] != 0) {
      return OutOfRangeError("uint256 above 2^128-1", "amount-out-of-range");
    }
  }
  Uint128 v = 0;
  for (size_t i = 16; i < 32; ++i) {
    v = (v << 8) | w[i];
  }
  return Amount::FromRaw(v);
}

Result<bool> DecodeBool(ByteSpan ret) {
  MD_ASSIGN_OR_RETURN(Word w, OneWord(ret));
  for (size_t i = 0; i < 31; ++i) {
    if (w[i] != 0) {
      return BadAbi("bool word with high bytes set");
    }
  }
  if (w[31] > 1) {
    return BadAbi("bool word above 1");
  }
  return w[31] == 1;
}

Result<TransferSettled> DecodeTransferSettled(const Log& log) {
  static const Word kTopic = EventTopic(kTransferSettledSig);
  if (log.topics.empty() || log.topics[0] != kTopic) {
    return NotFoundError("not a TransferSettled log");
  }
  if (log.topics.size() != 3) {
    return BadAbi("TransferSettled log with " + std::to_string(log.topics.size()) + " topics");
  }
  const Word& token = log.topics[1];
  for (size_t i = 0; i < 12; ++i) {
    if (token[i] != 0) {
      return BadAbi("TransferSettled token topic is not an address");
    }
  }
  TransferSettled out;
  std::copy(token.begin() + 12, token.end(), out.token.begin());
  std::copy(log.topics[2].begin(), log.topics[2].end(), out.nonce.begin());
  MD_ASSIGN_OR_RETURN(out.ok, DecodeBool(log.data));
  return out;
}

}  // namespace mandated::settlement::abi
