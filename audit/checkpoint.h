// Checkpoints as signed notes: the C2SP tlog-checkpoint body (origin, tree size, root hash) and
// the C2SP signed-note envelope with Ed25519 signatures and verifier keys.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "base/result.h"
#include "signer/keys.h"

namespace mandated::audit {

struct Checkpoint {
  std::string origin;               // e.g. "mandated.example/audit"
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extra;   // optional extension lines, each without its newline
};

// "<origin>\n<size>\n<base64 std root>\n" plus each extension line and "\n".
std::string CheckpointBody(const Checkpoint& c);
// Strict parse of a checkpoint body; kInvalidArgument ("checkpoint-malformed") naming the line.
Result<Checkpoint> ParseCheckpointBody(std::string_view body);

// A note verifier key "<name>+<8 hex key hash>+<base64 std(0x01 || 32-byte Ed25519 key)>".
struct NoteVerifier {
  std::string name;
  uint32_t key_hash = 0;  // first 4 bytes (big-endian) of SHA-256(name || "\n" || 0x01 || key)
  signer::PublicKey key;  // Ed25519
};
std::string VerifierKeyString(const std::string& name, const signer::PublicKey& ed25519);
Result<NoteVerifier> ParseVerifierKey(std::string_view vkey);  // kInvalidArgument on any flaw

// The signature line's payload for `body` signed by `name`: a signer callback returns the raw
// 64-byte Ed25519 signature over the body bytes. The result is the full note: body, a blank
// line, and "— <name> <base64(key hash || signature)>\n".
using NoteSignFn = std::function<Result<Bytes>(ByteSpan message)>;
Result<std::string> SignNote(std::string_view body, const std::string& name,
                             const signer::PublicKey& ed25519, const NoteSignFn& sign);

// Verifies a note: at least one signature line from `verifier` (name and key hash matching) must
// verify; lines of unknown keys are ignored. Returns the body. kInvalidArgument with reason
// "note-malformed" or "note-signature-invalid" (or "note-unsigned" when no line is from the
// verifier), with a detail that says what is wrong.
Result<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier);

}  // namespace mandated::audit
