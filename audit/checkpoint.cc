// C2SP signed notes with Ed25519 signatures (c2sp.org/signed-note) and C2SP tlog-checkpoint
// bodies (c2sp.org/tlog-checkpoint): formatting, strict parsing, signing and verification.
// Every function here is stateless and safe to call from any thread.
#include "audit/checkpoint.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "signer/hash.h"
#include "signer/signature.h"

namespace mandated::audit {
namespace {

// "— ": U+2014 EM DASH in UTF-8, then a space. Every signature line starts with it.
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";
constexpr uint8_t kSignatureTypeEd25519 = 0x01;
constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;
constexpr size_t kKeyHashBytes = 4;
// The spec asks verifiers to accept at least 16 signatures, which may be post-quantum ones of
// nearly 5 kB each; these limits leave room for that and bound the work of a hostile note.
constexpr size_t kMaxNoteBytes = 256 * 1024;
constexpr size_t kMaxSignatureLines = 100;

Status NoteMalformed(const std::string& detail) {
  return InvalidArgumentError("signed note: " + detail, "note-malformed");
}
Status SignatureInvalid(const std::string& detail) {
  return InvalidArgumentError("signed note: " + detail, "note-signature-invalid");
}
Status CheckpointMalformed(const std::string& detail) {
  return InvalidArgumentError("checkpoint: " + detail, "checkpoint-malformed");
}
Status VerifierKeyMalformed(const std::string& detail) {
  return InvalidArgumentError("note verifier key: " + detail, "verifier-key-malformed");
}

std::string Hex32(uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  return HexEncode(ByteSpan(b, 4));
}

// "U+XXXX" for a code point up to U+FFFF (the control and space characters named in errors).
std::string CodePointName(uint32_t cp) {
  std::string hex = HexEncode(Bytes{static_cast<uint8_t>(cp >> 8), static_cast<uint8_t>(cp)});
  for (char& c : hex) {
    c = static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c);
  }
  return "U+" + hex;
}

// One UTF-8 sequence: its code point and length in bytes. `len` is 0 when the bytes at the
// position are ill-formed (a stray continuation byte, an overlong form, a surrogate, a code
// point above U+10FFFF or a truncated sequence).
struct Rune {
  uint32_t cp = 0;
  size_t len = 0;
};

Rune DecodeRune(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t b0 = byte(0);
  if (b0 < 0x80) {
    return {b0, 1};
  }
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1Fu;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0Fu;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07u;
    min = 0x10000;
  } else {
    return {};
  }
  if (s.size() - i < len) {
    return {};
  }
  for (size_t k = 1; k < len; ++k) {
    if ((byte(k) & 0xC0) != 0x80) {
      return {};
    }
    cp = (cp << 6) | (byte(k) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return {};
  }
  return {cp, len};
}

// signed-note §Format: valid UTF-8 without ASCII control characters other than newline.
// Returns a detail naming the first offending byte, or "" when the text is clean.
std::string TextFlaw(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const Rune r = DecodeRune(text, i);
    if (r.len == 0) {
      return "invalid UTF-8 at byte " + std::to_string(i);
    }
    if (r.cp < 0x20 && r.cp != '\n') {
      return "control character " + CodePointName(r.cp) + " at byte " + std::to_string(i);
    }
    i += r.len;
  }
  return "";
}

// Unicode White_Space characters (Go's unicode.IsSpace, which the reference implementation uses).
bool IsUnicodeSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// signed-note §Format: key names are non-empty and hold no Unicode space and no '+'. Control
// characters are refused too (a note cannot carry them). Returns the flaw, or "" if none.
std::string KeyNameFlaw(std::string_view name) {
  if (name.empty()) {
    return "the key name is empty";
  }
  for (size_t i = 0; i < name.size();) {
    const Rune r = DecodeRune(name, i);
    if (r.len == 0) {
      return "the key name is not valid UTF-8 (byte " + std::to_string(i) + ")";
    }
    if (r.cp == '+') {
      return "the key name contains '+'";
    }
    if (IsUnicodeSpace(r.cp)) {
      return "the key name contains the space " + CodePointName(r.cp);
    }
    if (r.cp < 0x20) {
      return "the key name contains the control character " + CodePointName(r.cp);
    }
    i += r.len;
  }
  return "";
}

// signed-note §Ed25519 signatures: SHA-256(name || 0x0A || 0x01 || key)[:4], big-endian.
uint32_t KeyHash(std::string_view name, ByteSpan ed25519_key) {
  Bytes input;
  input.reserve(name.size() + 2 + ed25519_key.size());
  input.insert(input.end(), name.begin(), name.end());
  input.push_back('\n');
  input.push_back(kSignatureTypeEd25519);
  input.insert(input.end(), ed25519_key.begin(), ed25519_key.end());
  const Bytes digest = signer::Sha256(input);
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) | (uint32_t{digest[2]} << 8) |
         uint32_t{digest[3]};
}

std::string KeyId(std::string_view name, uint32_t key_hash) {
  return std::string(name) + "+" + Hex32(key_hash);
}

// Exactly eight hex digits (either case, as the reference implementation reads them).
bool ParseHex32(std::string_view text, uint32_t& out) {
  if (text.size() != 8) {
    return false;
  }
  uint32_t v = 0;
  for (char c : text) {
    uint32_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

// The key must be a valid Ed25519 key (not a small-order point) and the name a valid key name.
Status CheckSigningKey(std::string_view name, const signer::PublicKey& key) {
  if (key.type != signer::KeyType::kEd25519) {
    return InvalidArgumentError(
        "signed note: the key is " + std::string(signer::KeyTypeName(key.type)) + ", not Ed25519",
        "bad-key");
  }
  Result<signer::PublicKey> parsed = signer::ParsePublicKey(signer::KeyType::kEd25519, key.bytes);
  if (!parsed.ok()) {
    return parsed.error().Annotate("signed note key");
  }
  const std::string flaw = KeyNameFlaw(name);
  if (!flaw.empty()) {
    return InvalidArgumentError("signed note: " + flaw, "bad-key");
  }
  return OkStatus();
}

// One signature line from the verifier's key, kept for verification after the whole note parsed.
struct KnownSignature {
  size_t line = 0;  // 1-based among the signature lines
  Bytes signature;  // without the key hash
};

}  // namespace

std::string CheckpointBody(const Checkpoint& c) {
  std::string out;
  out.reserve(c.origin.size() + 20 + 45 + 1);
  out.append(c.origin).push_back('\n');
  out.append(std::to_string(c.size)).push_back('\n');
  out.append(Base64Encode(c.root)).push_back('\n');
  for (const std::string& line : c.extra) {
    out.append(line).push_back('\n');
  }
  return out;
}

// tlog-checkpoint §Note text: at least three non-empty lines, each ending in a newline.
Result<Checkpoint> ParseCheckpointBody(std::string_view body) {
  if (body.size() > kMaxNoteBytes) {
    return CheckpointMalformed("the body is " + std::to_string(body.size()) +
                               " bytes; the limit is " + std::to_string(kMaxNoteBytes));
  }
  if (body.empty()) {
    return CheckpointMalformed("the body is empty");
  }
  if (const std::string flaw = TextFlaw(body); !flaw.empty()) {
    return CheckpointMalformed(flaw);
  }
  if (body.back() != '\n') {
    return CheckpointMalformed("the body does not end in a newline");
  }
  std::vector<std::string_view> lines;
  for (std::string_view rest = body; !rest.empty();) {
    const size_t nl = rest.find('\n');  // found: `rest` ends in a newline
    lines.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  if (lines.size() < 3) {
    return CheckpointMalformed("the body has " + std::to_string(lines.size()) +
                               " lines; it needs an origin, a tree size and a root hash");
  }
  static constexpr const char* kLineNames[] = {" (origin)", " (tree size)", " (root hash)"};
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return CheckpointMalformed("line " + std::to_string(i + 1) +
                                 (i < 3 ? kLineNames[i] : " (extension)") + " is empty");
    }
  }

  Checkpoint c;
  c.origin = std::string(lines[0]);

  const std::string_view size = lines[1];
  if (!std::all_of(size.begin(), size.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return CheckpointMalformed("line 2 (tree size) is not a decimal number");
  }
  if (size.size() > 1 && size[0] == '0') {
    return CheckpointMalformed("line 2 (tree size) has a leading zero");
  }
  for (char ch : size) {
    const uint64_t digit = static_cast<uint64_t>(ch - '0');
    if (c.size > (UINT64_MAX - digit) / 10) {
      return CheckpointMalformed("line 2 (tree size) does not fit in 64 bits");
    }
    c.size = c.size * 10 + digit;
  }

  Result<Bytes> root = Base64Decode(lines[2]);
  if (!root.ok()) {
    return CheckpointMalformed("line 3 (root hash) is not standard base64: " +
                               root.error().message());
  }
  if (root->size() != c.root.size()) {
    return CheckpointMalformed("line 3 (root hash) holds " + std::to_string(root->size()) +
                               " bytes, not " + std::to_string(c.root.size()));
  }
  std::copy(root->begin(), root->end(), c.root.begin());

  c.extra.assign(lines.begin() + 3, lines.end());
  return c;
}

std::string VerifierKeyString(const std::string& name, const signer::PublicKey& ed25519) {
  Bytes key;
  key.reserve(1 + ed25519.bytes.size());
  key.push_back(kSignatureTypeEd25519);
  key.insert(key.end(), ed25519.bytes.begin(), ed25519.bytes.end());
  return name + "+" + Hex32(KeyHash(name, ed25519.bytes)) + "+" + Base64Encode(key);
}

Result<NoteVerifier> ParseVerifierKey(std::string_view vkey) {
  if (vkey.size() > kMaxNoteBytes) {
    return VerifierKeyMalformed("it is " + std::to_string(vkey.size()) + " bytes long");
  }
  const size_t plus1 = vkey.find('+');
  if (plus1 == std::string_view::npos) {
    return VerifierKeyMalformed("no '+' follows the key name");
  }
  const std::string_view name = vkey.substr(0, plus1);
  const size_t plus2 = vkey.find('+', plus1 + 1);
  if (plus2 == std::string_view::npos) {
    return VerifierKeyMalformed("no '+' follows the key hash");
  }
  const std::string_view hash_text = vkey.substr(plus1 + 1, plus2 - plus1 - 1);
  const std::string_view key_text = vkey.substr(plus2 + 1);

  if (const std::string flaw = KeyNameFlaw(name); !flaw.empty()) {
    return VerifierKeyMalformed(flaw);
  }
  uint32_t key_hash = 0;
  if (!ParseHex32(hash_text, key_hash)) {
    return VerifierKeyMalformed("the key hash is not eight hex digits");
  }
  Result<Bytes> key = Base64Decode(key_text);
  if (!key.ok()) {
    return VerifierKeyMalformed("the key is not standard base64: " + key.error().message());
  }
  if (key->empty()) {
    return VerifierKeyMalformed("the key is empty");
  }
  if ((*key)[0] != kSignatureTypeEd25519) {
    return VerifierKeyMalformed("the signature type 0x" + HexEncode(ByteSpan(key->data(), 1)) +
                                " is not Ed25519 (0x01)");
  }
  const ByteSpan raw = ByteSpan(*key).subspan(1);
  if (raw.size() != kEd25519KeyBytes) {
    return VerifierKeyMalformed("the Ed25519 key is " + std::to_string(raw.size()) +
                                " bytes, not 32");
  }
  const uint32_t expected = KeyHash(name, raw);
  if (key_hash != expected) {
    return VerifierKeyMalformed("the key hash " + std::string(hash_text) +
                                " does not match the name and key (they hash to " +
                                Hex32(expected) + ")");
  }
  Result<signer::PublicKey> parsed = signer::ParsePublicKey(signer::KeyType::kEd25519, raw);
  if (!parsed.ok()) {
    return VerifierKeyMalformed("the Ed25519 key is invalid: " + parsed.error().message());
  }
  NoteVerifier v;
  v.name = std::string(name);
  v.key_hash = key_hash;
  v.key = std::move(*parsed);
  return v;
}

// Returns the note, or kInvalidArgument with reason "note-malformed" (a body that is empty, does
// not end in a newline, is not clean UTF-8 or would make the note exceed its size limit; an
// invalid key name), "bad-key" (not a valid Ed25519 key) or "note-signature-invalid" (the signer
// returned something that is not a 64-byte signature verifying under `ed25519`, or `sign` is
// empty); errors of `sign` are passed through.
Result<std::string> SignNote(std::string_view body, const std::string& name,
                             const signer::PublicKey& ed25519, const NoteSignFn& sign) {
  if (body.empty() || body.back() != '\n') {
    return NoteMalformed("the text must end in a newline");
  }
  if (const std::string flaw = TextFlaw(body); !flaw.empty()) {
    return NoteMalformed("the text has " + flaw);
  }
  if (const std::string flaw = KeyNameFlaw(name); !flaw.empty()) {
    return NoteMalformed(flaw);
  }
  MD_RETURN_IF_ERROR(CheckSigningKey(name, ed25519));
  // body, blank line, "— ", name, space, base64 of 68 bytes (92 characters), newline.
  const size_t note_size = body.size() + 1 + kSignaturePrefix.size() + name.size() + 1 + 92 + 1;
  if (note_size > kMaxNoteBytes) {
    return NoteMalformed("the signed note would be " + std::to_string(note_size) +
                         " bytes; the limit is " + std::to_string(kMaxNoteBytes));
  }

  if (!sign) {
    return InvalidArgumentError("signed note: no signer function", "note-signature-invalid");
  }
  MD_ASSIGN_OR_RETURN(Bytes signature, sign(AsBytes(body)));
  if (signature.size() != kEd25519SignatureBytes) {
    return SignatureInvalid("the signer returned " + std::to_string(signature.size()) +
                            " bytes, not a 64-byte Ed25519 signature");
  }
  if (!signer::Verify(ed25519, AsBytes(body), signature).ok()) {
    return SignatureInvalid("the signer's signature does not verify under the key of " + name);
  }

  const uint32_t key_hash = KeyHash(name, ed25519.bytes);
  Bytes payload = {static_cast<uint8_t>(key_hash >> 24), static_cast<uint8_t>(key_hash >> 16),
                   static_cast<uint8_t>(key_hash >> 8), static_cast<uint8_t>(key_hash)};
  payload.insert(payload.end(), signature.begin(), signature.end());

  std::string note;
  note.reserve(note_size);
  note.append(body).push_back('\n');
  note.append(kSignaturePrefix).append(name).push_back(' ');
  note.append(Base64Encode(payload)).push_back('\n');
  return note;
}

// Besides the reasons in the header, returns kInvalidArgument ("bad-key") when `verifier` is not
// a valid Ed25519 verifier (its key, its name, or a key hash that does not match them).
Result<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier) {
  MD_RETURN_IF_ERROR(CheckSigningKey(verifier.name, verifier.key));
  if (KeyHash(verifier.name, verifier.key.bytes) != verifier.key_hash) {
    return InvalidArgumentError("signed note: the verifier's key hash " + Hex32(verifier.key_hash) +
                                    " does not match its name and key",
                                "bad-key");
  }

  if (note.size() > kMaxNoteBytes) {
    return NoteMalformed("the note is " + std::to_string(note.size()) + " bytes; the limit is " +
                         std::to_string(kMaxNoteBytes));
  }
  if (const std::string flaw = TextFlaw(note); !flaw.empty()) {
    return NoteMalformed(flaw);
  }
  // The text ends at the last empty line: it may hold empty lines itself (signed-note §Format).
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    return NoteMalformed("no empty line separates the text from the signature lines");
  }
  const std::string_view text = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty()) {
    return NoteMalformed("no signature line follows the empty line");
  }
  if (sigs.back() != '\n') {
    return NoteMalformed("the last signature line does not end in a newline");
  }

  // Parse every line before verifying any, so a malformed note is always reported as such.
  std::vector<KnownSignature> known;
  size_t count = 0;
  while (!sigs.empty()) {
    const size_t nl = sigs.find('\n');  // found: `sigs` ends in a newline
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (++count > kMaxSignatureLines) {
      return NoteMalformed("more than " + std::to_string(kMaxSignatureLines) + " signature lines");
    }
    const std::string where = "signature line " + std::to_string(count);
    if (line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) {
      return NoteMalformed(where + " does not start with an em dash (U+2014) and a space");
    }
    line.remove_prefix(kSignaturePrefix.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return NoteMalformed(where + " has no space between the key name and the signature");
    }
    const std::string_view name = line.substr(0, space);
    const std::string_view encoded = line.substr(space + 1);
    if (const std::string flaw = KeyNameFlaw(name); !flaw.empty()) {
      return NoteMalformed(where + ": " + flaw);
    }
    if (encoded.empty()) {
      return NoteMalformed(where + " has an empty signature");
    }
    Result<Bytes> decoded = Base64Decode(encoded);
    if (!decoded.ok()) {
      return NoteMalformed(where +
                           ": the signature is not standard base64: " + decoded.error().message());
    }
    if (decoded->size() <= kKeyHashBytes) {
      return NoteMalformed(where + ": the signature holds " + std::to_string(decoded->size()) +
                           " bytes; it needs a 4-byte key hash and a signature");
    }
    const Bytes& d = *decoded;
    const uint32_t key_hash =
        (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | uint32_t{d[3]};
    // Lines of other keys are ignored, even when they share the name or the key hash
    // (signed-note §Signatures).
    if (name == verifier.name && key_hash == verifier.key_hash) {
      known.push_back({count, Bytes(d.begin() + kKeyHashBytes, d.end())});
    }
  }

  const std::string key_id = KeyId(verifier.name, verifier.key_hash);
  if (known.empty()) {
    return InvalidArgumentError("signed note: no signature line is from the key " + key_id,
                                "note-unsigned");
  }
  // Every line from the verifier's key must verify, duplicates included.
  for (const KnownSignature& k : known) {
    const std::string where = "signature line " + std::to_string(k.line) + " (" + key_id + ")";
    if (k.signature.size() != kEd25519SignatureBytes) {
      return SignatureInvalid(where + " holds " + std::to_string(k.signature.size()) +
                              " signature bytes, not 64");
    }
    const Status verified = signer::Verify(verifier.key, AsBytes(text), k.signature);
    if (verified.code() == StatusCode::kUnauthenticated) {
      return SignatureInvalid(where + " does not verify over the note text");
    }
    MD_RETURN_IF_ERROR(verified);
  }
  return std::string(text);
}

}  // namespace mandated::audit
