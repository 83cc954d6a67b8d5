// Solidity ABI encodings the evm backend needs (specs/evm.md §2): EIP-3009
// transferWithAuthorization, ERC-20 balanceOf, EIP-3009 authorizationState, the batch settler's
// settleBatch and its TransferSettled log. Pure functions; safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/result.h"
#include "settlement/evm_chain.h"
#include "settlement/x402_wire.h"

namespace mandated::settlement::abi {

using Word = std::array<uint8_t, 32>;

// The signatures the selectors and the topic are the keccak256 of.
inline constexpr std::string_view kTransferWithAuthorizationSig =
    "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,"
    "bytes32)";
inline constexpr std::string_view kBalanceOfSig = "balanceOf(address)";
inline constexpr std::string_view kAuthorizationStateSig = "authorizationState(address,bytes32)";
inline constexpr std::string_view kSettleBatchSig =
    "settleBatch(address,(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,"
    "bytes32)[])";
inline constexpr std::string_view kTransferSettledSig = "TransferSettled(address,bytes32,bool)";
// The token's EIP-712 domain members (EIP-3009 tokens such as USDC expose both).
inline constexpr std::string_view kNameSig = "name()";
inline constexpr std::string_view kVersionSig = "version()";

// The first 4 bytes of keccak256(signature).
std::array<uint8_t, 4> Selector(std::string_view signature);
// keccak256(signature): an event's topic 0.
Word EventTopic(std::string_view signature);

// The split form of a 65-byte r||s||v signature; v of 0 or 1 is read as 27 or 28.
// kInvalidArgument ("bad-signature") for another length or v.
struct Vrs {
  uint8_t v = 0;
  Word r{};
  Word s{};
};
Result<Vrs> SplitSignature(ByteSpan signature65);

// transferWithAuthorization(from, to, value, validAfter, validBefore, nonce, v, r, s) of
// `t.authorization` signed by `t.signature`: 4 + 9 * 32 bytes.
Result<Bytes> TransferWithAuthorizationCall(const SignedTransfer& t);
// settleBatch(token, items): 4 + 32 * (3 + 9 * n) bytes. Every transfer must be of `token`
// (kInvalidArgument "mixed-tokens" otherwise).
Result<Bytes> SettleBatchCall(const Address& token, const std::vector<SignedTransfer>& transfers);
// balanceOf(owner), authorizationState(authorizer, nonce).
Bytes BalanceOfCall(const Address& owner);
Bytes AuthorizationStateCall(const Address& authorizer, const Nonce32& nonce);
// A call of a function without arguments (name(), version()): its 4-byte selector.
Bytes NoArgumentCall(std::string_view signature);

// Decoding of return data: a uint256 that must fit in 128 bits (kOutOfRange
// "amount-out-of-range" otherwise) and a bool (exactly 0 or 1 in one word). Anything but one
// 32-byte word is kInvalidArgument ("bad-abi").
Result<Amount> DecodeUint256(ByteSpan ret);
Result<bool> DecodeBool(ByteSpan ret);
// A returned `string`: the offset word (32), the length word, then the bytes, zero-padded to
// whole words. At most kMaxDecodedString bytes; anything else (another offset, a length past
// the data, non-zero padding, trailing words) is kInvalidArgument ("bad-abi").
inline constexpr size_t kMaxDecodedString = 1024;
Result<std::string> DecodeString(ByteSpan ret);

// One log of a receipt, as the node reports it.
struct Log {
  Address address{};
  std::vector<Word> topics;
  Bytes data;
};

// TransferSettled(address indexed token, bytes32 indexed nonce, bool ok).
struct TransferSettled {
  Address token{};
  Nonce32 nonce{};
  bool ok = false;
};
// The event if `log` is a TransferSettled log (topic 0 and shape match), else kNotFound; a log
// with the topic but a malformed body is kInvalidArgument ("bad-abi").
Result<TransferSettled> DecodeTransferSettled(const Log& log);

// A 32-byte word holding an address (left-padded) or an unsigned integer (big-endian).
Word AddressWord(const Address& a);
Word UintWord(Uint128 v);

}  // namespace mandated::settlement::abi
