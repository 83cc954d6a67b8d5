// Signed notes and checkpoints: the golang/mod and C2SP vectors (verifier keys, the exact signed
// note, every note and body case), round trips, and one refusal per flaw with its reason.
#include "audit/checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "signer/hash.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::audit {
namespace {

using testing::StringField;

constexpr const char* kVectors = "tests/vectors/note/note-vectors.json";
const std::string kEmDash = "\xE2\x80\x94";

json::Value LoadJson(const std::string& rel) {
  Result<json::Value> v = json::Parse(testing::ReadFileOrDie(testing::SourcePath(rel)));
  EXPECT_TRUE(v.ok()) << rel;
  return v.ok() ? *v : json::Value();
}

// Asserts a refusal with `reason` whose message contains `detail`.
void ExpectRefused(const Status& s, const std::string& reason, const std::string& detail = "") {
  ASSERT_FALSE(s.ok()) << "accepted; expected " << reason;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.reason(), reason) << s.ToString();
  EXPECT_NE(s.message().find(detail), std::string::npos)
      << "message \"" << s.message() << "\" does not mention \"" << detail << "\"";
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

// "— <name> <base64(be32 key hash || signature)>\n"
std::string SignatureLine(const std::string& name, uint32_t key_hash, const Bytes& signature) {
  Bytes payload = {static_cast<uint8_t>(key_hash >> 24), static_cast<uint8_t>(key_hash >> 16),
                   static_cast<uint8_t>(key_hash >> 8), static_cast<uint8_t>(key_hash)};
  payload.insert(payload.end(), signature.begin(), signature.end());
  return kEmDash + " " + name + " " + Base64Encode(payload) + "\n";
}

// The bytes after "— <name> " of a signature line, decoded.
Bytes LinePayload(const std::string& line) {
  const size_t space = line.find(' ', kEmDash.size() + 1);
  Result<Bytes> b = Base64Decode(line.substr(space + 1, line.size() - space - 2));
  EXPECT_TRUE(b.ok()) << line;
  return b.ok() ? *b : Bytes();
}

uint32_t KeyHashOf(const std::string& name, const Bytes& key) {
  Bytes in(name.begin(), name.end());
  in.push_back('\n');
  in.push_back(0x01);
  in.insert(in.end(), key.begin(), key.end());
  const Bytes d = signer::Sha256(in);
  return (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | d[3];
}

class NoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v_ = LoadJson(kVectors);
    ASSERT_TRUE(v_.is_object());
    const json::Value& keys = *v_.Find("keys");
    Result<NoteVerifier> peter = ParseVerifierKey(StringField(keys.items()[0], "verifierKey"));
    Result<NoteVerifier> enoch = ParseVerifierKey(StringField(keys.items()[1], "verifierKey"));
    ASSERT_TRUE(peter.ok() && enoch.ok());
    peter_ = *peter;
    enoch_ = *enoch;
    // "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>"; the base64 itself may hold '+'.
    const std::string skey = StringField(keys.items()[0], "signerKey");
    size_t at = 0;
    for (int i = 0; i < 4; ++i) {
      at = skey.find('+', at) + 1;
    }
    Result<Bytes> raw = Base64Decode(skey.substr(at));
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(raw->size(), 33u);
    ASSERT_EQ((*raw)[0], 0x01);
    Result<signer::PrivateKey> key =
        signer::ImportPrivateKey(signer::KeyType::kEd25519, ByteSpan(*raw).subspan(1));
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    peter_private_ = std::move(*key);
    text_ = StringField(v_, "text");
    peter_line_ = StringField(*v_.Find("signatureLines"), "PeterNeumann");
    enoch_line_ = StringField(*v_.Find("signatureLines"), "EnochRoot");
    signed_ = StringField(v_, "signedByPeterNeumann");
  }

  NoteSignFn PeterSign() const {
    return [this](ByteSpan m) { return signer::Sign(peter_private_, m); };
  }
  Result<std::string> SignAsPeter(std::string_view body) const {
    return SignNote(body, peter_.name, peter_.key, PeterSign());
  }

  json::Value v_;
  NoteVerifier peter_;
  NoteVerifier enoch_;
  signer::PrivateKey peter_private_;
  std::string text_;
  std::string peter_line_;
  std::string enoch_line_;
  std::string signed_;
};

// --- Vectors ---------------------------------------------------------------------------------

TEST_F(NoteTest, VectorVerifierKeysParseAndAreReproduced) {
  int checked = 0;
  for (const json::Value& k : v_.Find("keys")->items()) {
    const std::string vkey = StringField(k, "verifierKey");
    SCOPED_TRACE(vkey);
    Result<NoteVerifier> parsed = ParseVerifierKey(vkey);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    EXPECT_EQ(parsed->name, StringField(k, "name"));
    EXPECT_EQ(parsed->key_hash, std::stoul(StringField(k, "keyHash"), nullptr, 16));
    EXPECT_EQ(parsed->key.type, signer::KeyType::kEd25519);
    EXPECT_EQ(VerifierKeyString(parsed->name, parsed->key), vkey);
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

TEST_F(NoteTest, VectorSignerKeyDerivesTheVerifierKey) {
  Result<signer::PublicKey> pub = signer::DerivePublicKey(peter_private_);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, peter_.key);
  EXPECT_EQ(VerifierKeyString("PeterNeumann", *pub),
            StringField(v_.Find("keys")->items()[0], "verifierKey"));
}

TEST_F(NoteTest, VectorSignNoteReproducesTheSignedNoteByteForByte) {
  Result<std::string> note = SignAsPeter(text_);
  ASSERT_TRUE(note.ok()) << note.error().ToString();
  EXPECT_EQ(*note, signed_);
  EXPECT_EQ(*note, text_ + "\n" + peter_line_);
  Result<std::string> body = OpenNote(*note, peter_);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  EXPECT_EQ(*body, text_);
}

TEST_F(NoteTest, VectorEveryNoteCase) {
  int checked = 0;
  for (const json::Value& c : v_.Find("notes")->items()) {
    SCOPED_TRACE(StringField(c, "id"));
    std::string note = StringField(c, "note");
    if (c.Find("noteHex") != nullptr) {
      Result<Bytes> raw = HexDecode(StringField(c, "noteHex"));
      ASSERT_TRUE(raw.ok());
      note = std::string(AsChars(*raw));
    }
    const NoteVerifier& verifier = StringField(c, "verifier") == "EnochRoot" ? enoch_ : peter_;
    Result<std::string> body = OpenNote(note, verifier);
    const std::string expect = StringField(c, "expect");
    if (expect == "ok") {
      ASSERT_TRUE(body.ok()) << body.error().ToString();
      EXPECT_EQ(*body, text_);
    } else {
      ExpectRefused(body.status(), expect);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 17);
}

TEST_F(NoteTest, VectorBadVerifierKeysAreRefused) {
  int checked = 0;
  for (const json::Value& c : v_.Find("badVerifierKeys")->items()) {
    SCOPED_TRACE(StringField(c, "why"));
    ExpectRefused(ParseVerifierKey(StringField(c, "vkey")).status(), "verifier-key-malformed");
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

// golang/mod's TestNewVerifier manglings: every proper substring, every byte incremented.
TEST_F(NoteTest, VectorVerifierKeyManglingsAreRefused) {
  const std::string vkey = StringField(v_.Find("keys")->items()[0], "verifierKey");
  int checked = 0;
  for (size_t i = 0; i <= vkey.size(); ++i) {
    for (size_t j = i + 1; j <= vkey.size(); ++j) {
      if (i == 0 && j == vkey.size()) {
        continue;
      }
      const std::string part = vkey.substr(i, j - i);
      SCOPED_TRACE(part);
      ExpectRefused(ParseVerifierKey(part).status(), "verifier-key-malformed");
      ++checked;
    }
  }
  for (size_t i = 0; i < vkey.size(); ++i) {
    std::string bumped = vkey;
    ++bumped[i];
    SCOPED_TRACE(bumped);
    ExpectRefused(ParseVerifierKey(bumped).status(), "verifier-key-malformed");
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(vkey.size() * (vkey.size() + 1) / 2 - 1 + vkey.size()));
}

TEST_F(NoteTest, VectorEveryCheckpointBody) {
  int checked = 0;
  for (const json::Value& c : v_.Find("checkpointBodies")->items()) {
    SCOPED_TRACE(StringField(c, "id"));
    const std::string body = StringField(c, "body");
    Result<Checkpoint> cp = ParseCheckpointBody(body);
    const std::string expect = StringField(c, "expect");
    ++checked;
    if (expect != "ok") {
      ExpectRefused(cp.status(), expect);
      continue;
    }
    ASSERT_TRUE(cp.ok()) << cp.error().ToString();
    EXPECT_EQ(cp->origin, StringField(c, "origin"));
    EXPECT_EQ(std::to_string(cp->size), StringField(c, "size"));
    EXPECT_EQ(Base64Encode(cp->root), StringField(c, "rootBase64"));
    std::vector<std::string> extra;
    for (const json::Value& e : c.Find("extra")->items()) {
      extra.push_back(e.as_string());
    }
    EXPECT_EQ(cp->extra, extra);
    EXPECT_EQ(CheckpointBody(*cp), body);
    if (c.Find("rootIsLeafHashOf") != nullptr) {  // RFC 6962 leaf hash: SHA-256(0x00 || data)
      Bytes leaf = {0x00};
      const std::string payload = StringField(c, "rootIsLeafHashOf");
      leaf.insert(leaf.end(), payload.begin(), payload.end());
      EXPECT_EQ(Bytes(cp->root.begin(), cp->root.end()), signer::Sha256(leaf));
    }
  }
  EXPECT_EQ(checked, 7);
}

// --- OpenNote --------------------------------------------------------------------------------

TEST_F(NoteTest, OpenEveryFlippedTextByteIsRefused) {
  int checked = 0;
  for (size_t i = 0; i < text_.size(); ++i) {
    std::string note = signed_;
    if (note[i] == '\n') {
      note[i] = '\x0b';  // a control character: the note is malformed before any signature
      ExpectRefused(OpenNote(note, peter_).status(), "note-malformed", "control character U+000B");
    } else {
      note[i] = static_cast<char>(note[i] ^ 0x01);  // stays printable ASCII
      SCOPED_TRACE(note);
      ExpectRefused(OpenNote(note, peter_).status(), "note-signature-invalid",
                    "signature line 1 (PeterNeumann+c74f20a3) does not verify");
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(text_.size()));
}

TEST_F(NoteTest, OpenEveryFlippedSignatureByteIsRefused) {
  const Bytes payload = LinePayload(peter_line_);
  ASSERT_EQ(payload.size(), 68u);
  for (size_t i = 0; i < payload.size(); ++i) {
    Bytes flipped = payload;
    flipped[i] ^= 0x01;
    const uint32_t hash = (uint32_t{flipped[0]} << 24) | (uint32_t{flipped[1]} << 16) |
                          (uint32_t{flipped[2]} << 8) | flipped[3];
    const std::string note =
        text_ + "\n" +
        SignatureLine("PeterNeumann", hash, Bytes(flipped.begin() + 4, flipped.end()));
    SCOPED_TRACE(i);
    if (i < 4) {  // the key hash no longer names the verifier's key: the line is ignored
      ExpectRefused(OpenNote(note, peter_).status(), "note-unsigned",
                    "no signature line is from the key PeterNeumann+c74f20a3");
    } else {
      ExpectRefused(OpenNote(note, peter_).status(), "note-signature-invalid", "does not verify");
    }
  }
}

TEST_F(NoteTest, OpenIgnoresLinesOfOtherKeys) {
  // Another key's line before and after ours, one sharing our name, one sharing our key hash.
  const Bytes junk(64, 0x5a);
  const std::string same_name = SignatureLine("PeterNeumann", 0x01020304, junk);
  const std::string same_hash = SignatureLine("example.com/other", 0xc74f20a3, junk);
  const std::string long_sig = SignatureLine("example.com/pq", 7, Bytes(2420, 0x11));
  const std::string note =
      text_ + "\n" + enoch_line_ + same_name + peter_line_ + same_hash + long_sig;
  Result<std::string> body = OpenNote(note, peter_);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  EXPECT_EQ(*body, text_);
}

TEST_F(NoteTest, OpenWithOnlyUnknownSignersIsUnsigned) {
  ExpectRefused(OpenNote(text_ + "\n" + enoch_line_, peter_).status(), "note-unsigned",
                "PeterNeumann+c74f20a3");
  // The same key under another name is another key.
  Result<NoteVerifier> renamed = ParseVerifierKey(VerifierKeyString("PeterNeumann2", peter_.key));
  ASSERT_TRUE(renamed.ok());
  ExpectRefused(OpenNote(signed_, *renamed).status(), "note-unsigned", "PeterNeumann2+");
  // A wrong key name on the line.
  ExpectRefused(OpenNote(Replace(signed_, "PeterNeumann", "PeterNeumanm"), peter_).status(),
                "note-unsigned");
}

TEST_F(NoteTest, OpenRefusesAColliderOfNameAndKeyHash) {
  // EnochRoot's signature presented under PeterNeumann's name and key hash: it must verify.
  const Bytes enoch = LinePayload(enoch_line_);
  const std::string line =
      SignatureLine("PeterNeumann", 0xc74f20a3, Bytes(enoch.begin() + 4, enoch.end()));
  ExpectRefused(OpenNote(text_ + "\n" + line, peter_).status(), "note-signature-invalid",
                "signature line 1 (PeterNeumann+c74f20a3) does not verify");
  // ... even next to a good one.
  ExpectRefused(OpenNote(signed_ + line, peter_).status(), "note-signature-invalid",
                "signature line 2");
  // A signature of the wrong length from the known key.
  const Bytes peter = LinePayload(peter_line_);
  ExpectRefused(OpenNote(text_ + "\n" +
                             SignatureLine("PeterNeumann", 0xc74f20a3,
                                           Bytes(peter.begin() + 4, peter.end() - 1)),
                         peter_)
                    .status(),
                "note-signature-invalid", "63 signature bytes, not 64");
}

TEST_F(NoteTest, OpenAcceptsDuplicatesOfAGoodLine) {
  Result<std::string> body = OpenNote(signed_ + peter_line_ + peter_line_, peter_);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  EXPECT_EQ(*body, text_);
}

TEST_F(NoteTest, OpenRefusesMalformedEnvelopes) {
  const std::string sig = peter_line_;
  struct Case {
    std::string name;
    std::string note;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"missing blank line", text_ + sig, "no empty line separates"},
      {"missing trailing newline", text_ + "\n" + sig.substr(0, sig.size() - 1),
       "does not end in a newline"},
      {"nothing after the blank line", text_ + "\n", "no signature line follows"},
      {"hyphen instead of em dash", text_ + "\n" + Replace(sig, kEmDash, "-"),
       "signature line 1 does not start with an em dash"},
      {"en dash instead of em dash", text_ + "\n" + Replace(sig, kEmDash, "\xE2\x80\x93"),
       "does not start with an em dash"},
      {"em dash without space", text_ + "\n" + Replace(sig, kEmDash + " ", kEmDash),
       "does not start with an em dash"},
      {"two spaces after em dash", text_ + "\n" + Replace(sig, kEmDash + " ", kEmDash + "  "),
       "the key name is empty"},
      {"no signature after the name", text_ + "\n" + kEmDash + " PeterNeumann\n",
       "no space between the key name and the signature"},
      {"empty signature", text_ + "\n" + kEmDash + " PeterNeumann \n", "empty signature"},
      {"bad base64 character", text_ + "\n" + Replace(sig, "/ZJ", "*ZJ"),
       "signature line 1: the signature is not standard base64"},
      {"unpadded base64", text_ + "\n" + Replace(sig, "=\n", "\n"), "not standard base64"},
      {"base64url alphabet", text_ + "\n" + Replace(sig, "/ZJ", "_ZJ"), "not standard base64"},
      {"non-zero trailing bits", text_ + "\n" + Replace(sig, "AM=\n", "AN=\n"),
       "not standard base64"},
      {"signature of only a key hash", text_ + "\n" + kEmDash + " PeterNeumann x08gow==\n",
       "holds 4 bytes"},
      {"plus in the key name", text_ + "\n" + Replace(sig, "PeterNeumann", "Peter+Neumann"),
       "contains '+'"},
      {"no-break space in the key name",
       text_ + "\n" + Replace(sig, "PeterNeumann", "Peter\xC2\xA0Neumann"), "U+00A0"},
      {"ideographic space in the key name",
       text_ + "\n" + Replace(sig, "PeterNeumann", "Peter\xE3\x80\x80Neumann"), "U+3000"},
      {"trailing space after the signature", text_ + "\n" + Replace(sig, "=\n", "= \n"),
       "not standard base64"},
      {"CR LF line end", text_ + "\n" + Replace(sig, "\n", "\r\n"), "control character U+000D"},
      {"tab in the text", "a\tb\n\n" + sig, "control character U+0009 at byte 1"},
      {"NUL in the text", std::string("a\0b\n\n", 5) + sig, "control character U+0000"},
      {"overlong UTF-8", "\xC0\xAF\n\n" + sig, "invalid UTF-8 at byte 0"},
      {"UTF-8 surrogate", "\xED\xA0\x80\n\n" + sig, "invalid UTF-8 at byte 0"},
      {"truncated UTF-8", text_ + "\n" + sig + "\xE2\x80", "invalid UTF-8"},
      {"line after the signatures", text_ + "\n" + sig + "Unexpected line.\n",
       "signature line 2 does not start with an em dash"},
      {"101 signature lines", text_ + "\n" + Repeat(sig, 101), "more than 100 signature lines"},
      {"empty note", "", "no empty line separates"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectRefused(OpenNote(c.note, peter_).status(), "note-malformed", c.detail);
  }
}

TEST_F(NoteTest, OpenSplitsAtTheLastEmptyLine) {
  // A second empty line makes the first signature line part of the text, which it did not sign.
  ExpectRefused(OpenNote(signed_ + "\n" + peter_line_, peter_).status(), "note-signature-invalid",
                "signature line 1 (PeterNeumann+c74f20a3) does not verify");
}

TEST_F(NoteTest, OpenAcceptsOneHundredSignatureLines) {
  Result<std::string> body = OpenNote(text_ + "\n" + Repeat(enoch_line_, 99) + peter_line_, peter_);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  EXPECT_EQ(*body, text_);
}

TEST_F(NoteTest, OpenRefusesAnOversizedNote) {
  const std::string big(256 * 1024, 'a');
  ExpectRefused(OpenNote(big + "\n\n" + peter_line_, peter_).status(), "note-malformed",
                "the limit is 262144");
}

TEST_F(NoteTest, OpenRefusesAnInconsistentVerifier) {
  NoteVerifier wrong_hash = peter_;
  wrong_hash.key_hash ^= 1;
  ExpectRefused(OpenNote(signed_, wrong_hash).status(), "bad-key", "does not match");
  NoteVerifier bad_name = peter_;
  bad_name.name = "Peter Neumann";
  ExpectRefused(OpenNote(signed_, bad_name).status(), "bad-key", "space");
  NoteVerifier not_ed25519 = peter_;
  not_ed25519.key.type = signer::KeyType::kP256;
  ExpectRefused(OpenNote(signed_, not_ed25519).status(), "bad-key", "not Ed25519");
}

// --- SignNote --------------------------------------------------------------------------------

TEST_F(NoteTest, SignAndOpenTextsWithEmptyLines) {
  // The text ends at the last empty line, so texts may hold (and end with) empty lines.
  for (const std::string& body :
       std::vector<std::string>{"a\n\nb\n", "a\n\n", "\n", "\n\n\n", "x\n\n" + peter_line_}) {
    SCOPED_TRACE(body);
    Result<std::string> note = SignAsPeter(body);
    ASSERT_TRUE(note.ok()) << note.error().ToString();
    Result<std::string> opened = OpenNote(*note, peter_);
    ASSERT_TRUE(opened.ok()) << opened.error().ToString();
    EXPECT_EQ(*opened, body);
  }
}

TEST_F(NoteTest, SignRefusesBadBodiesNamesAndKeys) {
  ExpectRefused(SignAsPeter("no newline").status(), "note-malformed", "end in a newline");
  ExpectRefused(SignAsPeter("").status(), "note-malformed", "end in a newline");
  ExpectRefused(SignAsPeter("a\x01\n").status(), "note-malformed", "control character U+0001");
  ExpectRefused(SignAsPeter("\xFF\n").status(), "note-malformed", "invalid UTF-8");
  ExpectRefused(SignAsPeter(std::string(256 * 1024, 'a') + "\n").status(), "note-malformed",
                "the limit is 262144");
  for (const char* name : {"", "a+b", "bad name", "tab\tname", "nbsp\xC2\xA0name"}) {
    SCOPED_TRACE(name);
    ExpectRefused(SignNote(text_, name, peter_.key, PeterSign()).status(), "note-malformed",
                  "the key name");
  }
  signer::PublicKey p256 = peter_.key;
  p256.type = signer::KeyType::kP256;
  ExpectRefused(SignNote(text_, "x", p256, PeterSign()).status(), "bad-key", "not Ed25519");
  signer::PublicKey short_key = peter_.key;
  short_key.bytes.pop_back();
  ExpectRefused(SignNote(text_, "x", short_key, PeterSign()).status(), "bad-key");
}

TEST_F(NoteTest, SignRefusesSignaturesThatDoNotVerify) {
  // A signer holding another key than the one named.
  Result<signer::PrivateKey> other =
      signer::ImportPrivateKey(signer::KeyType::kEd25519, Bytes(32, 0x42));
  ASSERT_TRUE(other.ok());
  const NoteSignFn other_sign = [&](ByteSpan m) { return signer::Sign(*other, m); };
  ExpectRefused(SignNote(text_, "PeterNeumann", peter_.key, other_sign).status(),
                "note-signature-invalid", "does not verify under the key of PeterNeumann");
  const NoteSignFn short_sign = [](ByteSpan) -> Result<Bytes> { return Bytes(63, 1); };
  ExpectRefused(SignNote(text_, "PeterNeumann", peter_.key, short_sign).status(),
                "note-signature-invalid", "63 bytes");
  ExpectRefused(SignNote(text_, "PeterNeumann", peter_.key, NoteSignFn()).status(),
                "note-signature-invalid", "no signer");
  // The signer's own errors pass through unchanged.
  const NoteSignFn failing = [](ByteSpan) -> Result<Bytes> {
    return UnavailableError("hsm offline", "hsm-down");
  };
  Result<std::string> r = SignNote(text_, "PeterNeumann", peter_.key, failing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.error().reason(), "hsm-down");
}

// --- Verifier keys ---------------------------------------------------------------------------

TEST_F(NoteTest, VerifierKeyRefusals) {
  const std::string good = StringField(v_.Find("keys")->items()[0], "verifierKey");
  const std::string key64 = good.substr(good.rfind('+') + 1);
  // The identity point: a small-order Ed25519 key, with a key hash that matches it.
  Bytes identity(32, 0);
  identity[0] = 1;
  Bytes typed = {0x01};
  typed.insert(typed.end(), identity.begin(), identity.end());
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", KeyHashOf("Small", identity));
  struct Case {
    std::string vkey;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"", "no '+' follows the key name"},
      {"PeterNeumann", "no '+' follows the key name"},
      {"PeterNeumann+c74f20a3", "no '+' follows the key hash"},
      {"+c74f20a3+" + key64, "the key name is empty"},
      {"Peter Neumann+c74f20a3+" + key64, "the key name contains the space U+0020"},
      {"PeterNeumann+c74f20a+" + key64, "not eight hex digits"},
      {"PeterNeumann+c74f20a3a+" + key64, "not eight hex digits"},
      {"PeterNeumann+c74f20g3+" + key64, "not eight hex digits"},
      {"PeterNeumann+c74f20a4+" + key64, "does not match the name and key (they hash to c74f20a3)"},
      {"PeterNeuman+c74f20a3+" + key64, "does not match the name and key"},
      {"PeterNeumann+c74f20a3+" + key64.substr(0, 43), "not standard base64"},
      {"PeterNeumann+c74f20a3+", "the key is empty"},
      {"PeterNeumann+c74f20a3+Ag==", "the signature type 0x02 is not Ed25519"},
      {"PeterNeumann+c74f20a3+AQ==", "the Ed25519 key is 0 bytes, not 32"},
      {"PeterNeumann+c74f20a3+" + key64 + "+", "not standard base64"},
      {"Small+" + std::string(hash) + "+" + Base64Encode(typed), "the Ed25519 key is invalid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.vkey);
    ExpectRefused(ParseVerifierKey(c.vkey).status(), "verifier-key-malformed", c.detail);
  }
}

TEST_F(NoteTest, VerifierKeyHashMayBeUpperCase) {
  Result<NoteVerifier> v = ParseVerifierKey(
      Replace(StringField(v_.Find("keys")->items()[0], "verifierKey"), "c74f20a3", "C74F20A3"));
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->key_hash, 0xc74f20a3u);
}

// --- Checkpoints -----------------------------------------------------------------------------

Checkpoint Sample(uint64_t size, std::vector<std::string> extra = {}) {
  Checkpoint c;
  c.origin = "mandated.example/audit";
  c.size = size;
  for (size_t i = 0; i < c.root.size(); ++i) {
    c.root[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  c.extra = std::move(extra);
  return c;
}

TEST(CheckpointBody, FormatsTheThreeLinesAndExtensions) {
  Checkpoint c = Sample(20852163, {"ext one", "— two"});
  Result<Bytes> root = Base64Decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
  ASSERT_TRUE(root.ok());
  std::copy(root->begin(), root->end(), c.root.begin());
  EXPECT_EQ(CheckpointBody(c),
            "mandated.example/audit\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
            "ext one\n— two\n");
  c.extra.clear();
  c.size = 0;
  EXPECT_EQ(CheckpointBody(c),
            "mandated.example/audit\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
}

TEST(CheckpointBody, RoundTrips) {
  for (const Checkpoint& c :
       {Sample(0), Sample(1), Sample(10), Sample(123456789012), Sample(UINT64_MAX),
        Sample(5, {"a"}), Sample(5, {"x y z", "+1", "0", "ünïcödé"})}) {
    const std::string body = CheckpointBody(c);
    SCOPED_TRACE(body);
    Result<Checkpoint> back = ParseCheckpointBody(body);
    ASSERT_TRUE(back.ok()) << back.error().ToString();
    EXPECT_EQ(back->origin, c.origin);
    EXPECT_EQ(back->size, c.size);
    EXPECT_EQ(back->root, c.root);
    EXPECT_EQ(back->extra, c.extra);
    EXPECT_EQ(CheckpointBody(*back), body);
  }
}

TEST_F(NoteTest, CheckpointSignedAndOpenedAndParsed) {
  const Checkpoint c = Sample(42, {"ext"});
  Result<std::string> note =
      SignNote(CheckpointBody(c), "mandated.example/audit", peter_.key, PeterSign());
  ASSERT_TRUE(note.ok()) << note.error().ToString();
  Result<NoteVerifier> v =
      ParseVerifierKey(VerifierKeyString("mandated.example/audit", peter_.key));
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  Result<std::string> body = OpenNote(*note, *v);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  Result<Checkpoint> back = ParseCheckpointBody(*body);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->size, 42u);
  EXPECT_EQ(back->root, c.root);
  EXPECT_EQ(back->extra, std::vector<std::string>{"ext"});
  // The vector key's verifier (another name) does not accept it.
  ExpectRefused(OpenNote(*note, peter_).status(), "note-unsigned");
}

TEST(CheckpointBody, RefusesEveryFlaw) {
  const std::string root = Base64Encode(Sample(0).root);
  const std::string o = "mandated.example/audit\n";
  struct Case {
    std::string name;
    std::string body;
    std::string detail;
  };
  Bytes r31(31, 7), r33(33, 7);
  const std::vector<Case> cases = {
      {"empty body", "", "the body is empty"},
      {"empty origin", "\n1\n" + root + "\n", "line 1 (origin) is empty"},
      {"leading zero size", o + "01\n" + root + "\n", "line 2 (tree size) has a leading zero"},
      {"two zeros", o + "00\n" + root + "\n", "leading zero"},
      {"negative size", o + "-1\n" + root + "\n", "line 2 (tree size) is not a decimal number"},
      {"plus sign size", o + "+1\n" + root + "\n", "not a decimal number"},
      {"hex size", o + "0x10\n" + root + "\n", "not a decimal number"},
      {"space before size", o + " 1\n" + root + "\n", "not a decimal number"},
      {"space after size", o + "1 \n" + root + "\n", "not a decimal number"},
      {"empty size", o + "\n" + root + "\n", "line 2 (tree size) is empty"},
      {"size overflows", o + "18446744073709551616\n" + root + "\n", "does not fit in 64 bits"},
      {"size far too big", o + "99999999999999999999999\n" + root + "\n", "does not fit"},
      {"root of 31 bytes", o + "1\n" + Base64Encode(r31) + "\n",
       "line 3 (root hash) holds 31 bytes, not 32"},
      {"root of 33 bytes", o + "1\n" + Base64Encode(r33) + "\n", "holds 33 bytes, not 32"},
      {"root unpadded", o + "1\n" + root.substr(0, 43) + "\n",
       "line 3 (root hash) is not standard base64"},
      {"root with a base64url character", o + "1\n-" + root.substr(1) + "\n",
       "not standard base64"},
      {"root hex", o + "1\n" + HexEncode(Sample(0).root) + "\n", "holds 48 bytes"},
      {"empty root", o + "1\n\n", "line 3 (root hash) is empty"},
      {"missing root", o + "1\n", "the body has 2 lines"},
      {"origin only", o, "the body has 1 lines"},
      {"no trailing newline", o + "1\n" + root, "does not end in a newline"},
      {"trailing blank line", o + "1\n" + root + "\n\n", "line 4 (extension) is empty"},
      {"empty extension line", o + "1\n" + root + "\n\nx\n", "line 4 (extension) is empty"},
      {"CR LF", "mandated.example/audit\r\n1\r\n" + root + "\r\n", "control character U+000D"},
      {"invalid UTF-8 origin", "\xFF\n1\n" + root + "\n", "invalid UTF-8 at byte 0"},
      {"oversized", std::string(256 * 1024, 'a') + "\n1\n" + root + "\n", "the limit is 262144"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectRefused(ParseCheckpointBody(c.body).status(), "checkpoint-malformed", c.detail);
  }
}

}  // namespace
}  // namespace mandated::audit
