// UTF-8 well-formedness (RFC 3629): checking text before it goes into JSON, which must be UTF-8
// (RFC 8259 §8.1), and repairing text that echoes a client's bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mandated {

// The length of the well-formed UTF-8 sequence starting at s[i] (1 to 4), or 0 when the bytes
// there are not one: a stray continuation byte, an overlong form, a surrogate, a code point past
// U+10FFFF, or a sequence cut short. REQUIRES: i < s.size().
size_t Utf8SequenceAt(std::string_view s, size_t i);

// True when `s` is well-formed UTF-8, i.e. when a strict JSON parser takes it back as a string.
bool IsValidUtf8(std::string_view s);

// True when `s` holds a control character: C0 (U+0000-U+001F), DEL, or C1 (U+0080-U+009F, in
// UTF-8 C2 80 to C2 9F). REQUIRES: `s` is well-formed UTF-8 (as every parsed JSON string is).
bool HasControlCharacter(std::string_view s);

// `s` with every byte that starts no well-formed sequence replaced by U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view s);

}  // namespace mandated
