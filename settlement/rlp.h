// RLP (Ethereum's Recursive Length Prefix encoding, specs/evm.md §1): byte strings, minimal
// big-endian unsigned integers and lists, encoded and strictly decoded.
#pragma once

#include <cstdint>
#include <vector>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/result.h"

namespace mandated::settlement::rlp {

// One RLP item: a byte string or a list of items.
// Thread safety: a value type.
struct Item {
  bool is_list = false;
  Bytes bytes;              // the string's bytes when !is_list
  std::vector<Item> items;  // the list's members when is_list

  static Item String(Bytes b);
  static Item String(ByteSpan b) { return String(Bytes(b.begin(), b.end())); }
  // An unsigned integer as its minimal big-endian bytes (0 is the empty string).
  static Item Uint(Uint128 v);
  static Item List(std::vector<Item> items);

  friend bool operator==(const Item&, const Item&) = default;
};

// Big-endian bytes of `v` without leading zeros (empty for 0).
Bytes MinimalBigEndian(Uint128 v);
// `bytes` without its leading zero bytes (an integer's minimal form).
Bytes StripLeadingZeros(ByteSpan bytes);

// Appends the encoding of one byte string / the header of a list whose encoded members take
// `payload_size` bytes.
void AppendString(Bytes& out, ByteSpan s);
void AppendListHeader(Bytes& out, size_t payload_size);

// The encoding of `item`.
Bytes Encode(const Item& item);

// Decodes exactly one item covering all of `data`. Strict: a single byte below 0x80 must be
// encoded as itself, lengths must use the short form when they fit in it and have no leading
// zero bytes, and nothing may follow the item. Errors: kInvalidArgument, reason "bad-rlp".
Result<Item> Decode(ByteSpan data);

// The unsigned integer held by a string item: at most 16 bytes, no leading zero byte
// (kInvalidArgument "bad-rlp" otherwise, also for a list).
Result<Uint128> DecodeUint(const Item& item);

}  // namespace mandated::settlement::rlp
