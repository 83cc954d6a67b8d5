// EIP-1559 (type 2) transactions (specs/evm.md §3): fields, the signing hash
// keccak256(0x02 || rlp([...])), signing with a secp256k1 key of the key store, the raw signed
// encoding and the transaction hash.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/result.h"
#include "settlement/x402_wire.h"
#include "signer/key_store.h"

namespace mandated::settlement {

// A type-2 transaction with an empty access list. Fees and value are uint256 on chain; we carry
// them in 128 bits. Thread safety: a value type.
struct Eip1559Tx {
  uint64_t chain_id = 0;
  uint64_t nonce = 0;
  Uint128 max_priority_fee_per_gas = 0;
  Uint128 max_fee_per_gas = 0;
  uint64_t gas_limit = 0;
  Address to{};
  Uint128 value = 0;
  Bytes data;
};

// A signed transaction: what eth_sendRawTransaction takes and the hash nodes know it by.
// Thread safety: a value type.
struct SignedTx {
  Bytes raw;             // 0x02 || rlp([chainId, nonce, ..., accessList, yParity, r, s])
  std::array<uint8_t, 32> hash{};  // keccak256(raw)
  std::string HashText() const;    // "0x" + 64 lower-case hex
};

// 0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
// accessList]): what is hashed to sign.
Bytes Eip1559SigningPayload(const Eip1559Tx& tx);
// keccak256 of the signing payload.
Bytes Eip1559SigningHash(const Eip1559Tx& tx);

// The signed encoding for a y-parity (0 or 1) and r, s (32 bytes each, big-endian).
SignedTx EncodeSignedEip1559(const Eip1559Tx& tx, uint8_t y_parity, ByteSpan r32, ByteSpan s32);

// Signs with the active secp256k1 key `key_id` (KeyStore::SignDigestRecoverable: RFC 6979, low S)
// and encodes. Errors are the key store's.
Result<SignedTx> SignEip1559(const Eip1559Tx& tx, signer::KeyStore& keys,
                             const std::string& key_id);

}  // namespace mandated::settlement
