// EIP-1559 transaction encoding and signing (specs/evm.md §3).
#include "settlement/evm_tx.h"

#include <algorithm>
#include <vector>

#include "settlement/rlp.h"
#include "signer/keccak.h"

namespace mandated::settlement {
namespace {

std::vector<rlp::Item> UnsignedFields(const Eip1559Tx& tx) {
  return {
      rlp::Item::Uint(tx.chain_id),
      rlp::Item::Uint(tx.nonce),
      rlp::Item::Uint(tx.max_priority_fee_per_gas),
      rlp::Item::Uint(tx.max_fee_per_gas),
      rlp::Item::Uint(tx.gas_limit),
      rlp::Item::String(ByteSpan(tx.to)),
      rlp::Item::Uint(tx.value),
      rlp::Item::String(tx.data),
      rlp::Item::List({}),  // accessList
  };
}

Bytes Typed(const std::vector<rlp::Item>& fields) {
  Bytes out{0x02};
  const Bytes body = rlp::Encode(rlp::Item::List(fields));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace

std::string SignedTx::HashText() const { return "0x" + HexEncode(hash); }

Bytes Eip1559SigningPayload(const Eip1559Tx& tx) { return Typed(UnsignedFields(tx)); }

Bytes Eip1559SigningHash(const Eip1559Tx& tx) {
  return signer::Keccak256(Eip1559SigningPayload(tx));
}

SignedTx EncodeSignedEip1559(const Eip1559Tx& tx, uint8_t y_parity, ByteSpan r32, ByteSpan s32) {
  std::vector<rlp::Item> fields = UnsignedFields(tx);
  fields.push_back(rlp::Item::Uint(y_parity));
  fields.push_back(rlp::Item::String(rlp::StripLeadingZeros(r32)));
  fields.push_back(rlp::Item::String(rlp::StripLeadingZeros(s32)));
  SignedTx out;
  out.raw = Typed(fields);
  const Bytes h = signer::Keccak256(out.raw);
  std::copy(h.begin(), h.end(), out.hash.begin());
  return out;
}

Result<SignedTx> SignEip1559(const Eip1559Tx& tx, signer::KeyStore& keys,
                             const std::string& key_id) {
  const Bytes digest = Eip1559SigningHash(tx);
  MD_ASSIGN_OR_RETURN(Bytes sig, keys.SignDigestRecoverable(key_id, digest));
  if (sig.size() != 65 || (sig[64] != 27 && sig[64] != 28)) {
    return InternalError("key store returned a malformed recoverable signature");
  }
  const ByteSpan all(sig);
  return EncodeSignedEip1559(tx, static_cast<uint8_t>(sig[64] - 27), all.subspan(0, 32),
                             all.subspan(32, 32));
}

}  // namespace mandated::settlement
