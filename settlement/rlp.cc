// RLP encoding and strict decoding (specs/evm.md §1).
#include "settlement/rlp.h"

#include <string>
#include <utility>

namespace mandated::settlement::rlp {
namespace {

Status Bad(std::string what) { return InvalidArgumentError("rlp: " + what, "bad-rlp"); }

// Appends the header of a string (offset 0x80) or list (0xc0) of `size` bytes.
void AppendHeader(Bytes& out, uint8_t offset, size_t size) {
  if (size < 56) {
    out.push_back(static_cast<uint8_t>(offset + size));
    return;
  }
  const Bytes len = MinimalBigEndian(static_cast<Uint128>(size));
  out.push_back(static_cast<uint8_t>(offset + 55 + len.size()));
  out.insert(out.end(), len.begin(), len.end());
}

void AppendItem(Bytes& out, const Item& item) {
  if (!item.is_list) {
    AppendString(out, item.bytes);
    return;
  }
  Bytes payload;
  for (const Item& m : item.items) {
    AppendItem(payload, m);
  }
  AppendListHeader(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

// Decodes the item starting at data[pos], advancing pos past it.
Result<Item> DecodeAt(ByteSpan data, size_t& pos, int depth) {
  if (depth > 64) {
    return Bad("nesting deeper than 64");
  }
  if (pos >= data.size()) {
    return Bad("truncated item");
  }
  const uint8_t b = data[pos++];
  if (b < 0x80) {
    return Item::String(Bytes{b});
  }
  const bool is_list = b >= 0xc0;
  const uint8_t base = is_list ? 0xc0 : 0x80;
  size_t size = 0;
  if (b - base < 56) {
    size = static_cast<size_t>(b - base);
  } else {
    const size_t len_of_len = static_cast<size_t>(b - base - 55);
    if (len_of_len > 8 || data.size() - pos < len_of_len) {
      return Bad("truncated length");
    }
    if (data[pos] == 0) {
      return Bad("length with a leading zero byte");
    }
    for (size_t i = 0; i < len_of_len; ++i) {
      size = (size << 8) | data[pos++];
    }
    if (size < 56) {
      return Bad("long form for a short length");
    }
  }
  if (data.size() - pos < size) {
    return Bad("truncated payload");
  }
  const size_t end = pos + size;
  if (!is_list) {
    if (size == 1 && data[pos] < 0x80) {
      return Bad("single byte below 0x80 not encoded as itself");
    }
    Item s = Item::String(data.subspan(pos, size));
    pos = end;
    return s;
  }
  std::vector<Item> items;
  while (pos < end) {
    MD_ASSIGN_OR_RETURN(Item m, DecodeAt(data.first(end), pos, depth + 1));
    items.push_back(std::move(m));
  }
  return Item::List(std::move(items));
}

}  // namespace

Item Item::String(Bytes b) {
  Item i;
  i.bytes = std::move(b);
  return i;
}

Item Item::Uint(Uint128 v) { return String(MinimalBigEndian(v)); }

Item Item::List(std::vector<Item> items) {
  Item i;
  i.is_list = true;
  i.items = std::move(items);
  return i;
}

Bytes MinimalBigEndian(Uint128 v) {
  Bytes out;
  while (v != 0) {
    out.insert(out.begin(), static_cast<uint8_t>(v & 0xff));
    v >>= 8;
  }
  return out;
}

Bytes StripLeadingZeros(ByteSpan bytes) {
  size_t i = 0;
  while (i < bytes.size() && bytes[i] == 0) {
    ++i;
  }
  return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(i), bytes.end());
}

void AppendString(Bytes& out, ByteSpan s) {
  if (s.size() == 1 && s[0] < 0x80) {
    out.push_back(s[0]);
    return;
  }
  AppendHeader(out, 0x80, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void AppendListHeader(Bytes& out, size_t payload_size) { AppendHeader(out, 0xc0, payload_size); }

Bytes Encode(const Item& item) {
  Bytes out;
  AppendItem(out, item);
  return out;
}

Result<Item> Decode(ByteSpan data) {
  size_t pos = 0;
  MD_ASSIGN_OR_RETURN(Item item, DecodeAt(data, pos, 0));
  if (pos != data.size()) {
    return Bad("trailing bytes after the item");
  }
  return item;
}

Result<Uint128> DecodeUint(const Item& item) {
  if (item.is_list) {
    return Bad("a list where an integer was expected");
  }
  if (item.bytes.size() > 16) {
    return Bad("integer wider than 128 bits");
  }
  if (!item.bytes.empty() && item.bytes[0] == 0) {
    return Bad("integer with a leading zero byte");
  }
  Uint128 v = 0;
  for (uint8_t b : item.bytes) {
    v = (v << 8) | b;
  }
  return v;
}

}  // namespace mandated::settlement::rlp
