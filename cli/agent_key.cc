// Agent key files (0600 JSON, secrets only in SecretBytes) and session assertions.
#include "cli/agent_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

#include "base/json.h"
#include "base/secret.h"
#include "cli/command_kit.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"

namespace mandated::cli {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr std::string_view kSecretMember = "\"private_key_hex\"";
constexpr size_t kSecretHexChars = 64;
constexpr size_t kMaxKeyFileBytes = 4096;

Status BadKeyFile(const std::string& path, const std::string& why) {
  return InvalidArgumentError(path + ": not a mandatectl key file (" + why + ")", "bad-key-file");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Where the secret's hex digits are in the key file's text: [begin, end).
struct SecretSpan {
  size_t begin = 0;
  size_t end = 0;
};

Result<SecretSpan> FindSecret(std::string_view text, const std::string& path) {
  const size_t at = text.find(kSecretMember);
  if (at == std::string_view::npos || text.find(kSecretMember, at + 1) != std::string_view::npos) {
    return BadKeyFile(path, "one \"private_key_hex\" member expected");
  }
  size_t i = at + kSecretMember.size();
  auto skip_space = [&] {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
      ++i;
    }
  };
  skip_space();
  if (i >= text.size() || text[i] != ':') {
    return BadKeyFile(path, "malformed");
  }
  ++i;
  skip_space();
  if (i >= text.size() || text[i] != '"') {
    return BadKeyFile(path, "private_key_hex must be a string");
  }
  const size_t end = text.find('"', i + 1);
  if (end == std::string_view::npos || end - (i + 1) != kSecretHexChars) {
    return BadKeyFile(path, "private_key_hex must be 64 hexadecimal characters");
  }
  return SecretSpan{i + 1, end};
}

// Reads a whole (small) file into wiping memory (command_kit.h's reader, with this file's
// reasons).
Result<SecretBytes> ReadKeyFileText(const std::string& path) {
  Result<SecretBytes> text = ReadSecretFile(path, kMaxKeyFileBytes);
  if (!text.ok()) {
    return text.error().code() == StatusCode::kInvalidArgument
               ? BadKeyFile(path, "not a regular file or pipe of at most 4 KiB")
               : UnavailableError(text.error().message(), "key-file-io");
  }
  return text;
}

Status WriteAll(int fd, const SecretBytes& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return UnavailableError(std::string("write failed: ") + strerror(errno), "key-file-io");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    return UnavailableError(std::string("fsync failed: ") + strerror(errno), "key-file-io");
  }
  return OkStatus();
}

}  // namespace

Status WriteKeyFile(const std::string& path, const signer::PrivateKey& key) {
  const std::string head =
      "{\"type\":\"" + std::string(signer::KeyTypeName(key.type)) + "\",\"private_key_hex\":\"";
  const std::string tail = "\"}\n";
  SecretBytes text(head.size() + 2 * key.secret.size() + tail.size());
  uint8_t* p = std::copy(head.begin(), head.end(), text.data());
  for (uint8_t b : key.secret.span()) {
    *p++ = static_cast<uint8_t>(kHexDigits[b >> 4]);
    *p++ = static_cast<uint8_t>(kHexDigits[b & 15]);
  }
  std::copy(tail.begin(), tail.end(), p);

  // Written whole under a temporary name beside it, made durable, then linked to `path`, which
  // fails if `path` exists (never overwritten): a crash leaves either no key file or a whole
  // one, never an empty or cut one that keygen would then refuse to replace.
  if (access(path.c_str(), F_OK) == 0) {
    return AlreadyExistsError(path + " already exists; it is never overwritten", "key-file-exists");
  }
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return UnavailableError("cannot create a file beside " + path + ": " + strerror(errno),
                            "key-file-io");
  }
  Status s = fchmod(fd, 0600) == 0
                 ? WriteAll(fd, text)
                 : UnavailableError("cannot set mode 0600 on " + tmp, "key-file-io");
  if (close(fd) != 0 && s.ok()) {
    s = UnavailableError("cannot close " + tmp, "key-file-io");
  }
  if (s.ok() && link(tmp.c_str(), path.c_str()) != 0) {
    s = errno == EEXIST
            ? AlreadyExistsError(path + " already exists; it is never overwritten",
                                 "key-file-exists")
            : UnavailableError("cannot create " + path + ": " + strerror(errno), "key-file-io");
  }
  unlink(tmp.c_str());
  if (!s.ok()) {
    return s.code() == StatusCode::kAlreadyExists ? s : s.Annotate(path);
  }
  // The new name made durable in its directory.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return OkStatus();
}

Result<signer::PrivateKey> ReadKeyFile(const std::string& path) {
  MD_ASSIGN_OR_RETURN(SecretBytes text, ReadKeyFileText(path));
  const std::string_view chars = text.chars();
  MD_ASSIGN_OR_RETURN(SecretSpan at, FindSecret(chars, path));
  // The structure is checked on a copy whose secret digits are zeros, so no unwiped copy of
  // the secret is ever made.
  std::string redacted(chars.substr(0, at.begin));
  redacted.append(kSecretHexChars, '0');
  redacted.append(chars.substr(at.end));
  Result<json::Value> doc = json::Parse(redacted);
  if (!doc.ok()) {
    return BadKeyFile(path, doc.error().message());
  }
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(*doc));
  Result<std::string> type_name = r.String("type");
  Result<std::string> zeros = r.String("private_key_hex");
  if (!type_name.ok() || !zeros.ok() || *zeros != std::string(kSecretHexChars, '0') ||
      !r.Finish().ok()) {
    return BadKeyFile(path, "want exactly {\"type\", \"private_key_hex\"}");
  }
  Result<signer::KeyType> type = signer::KeyTypeFromName(*type_name);
  if (!type.ok()) {
    return BadKeyFile(path, "unknown key type \"" + *type_name + "\"");
  }
  SecretBytes secret(kSecretHexChars / 2);
  for (size_t i = 0; i < secret.size(); ++i) {
    const int hi = HexValue(chars[at.begin + 2 * i]);
    const int lo = HexValue(chars[at.begin + 2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return BadKeyFile(path, "private_key_hex must be 64 hexadecimal characters");
    }
    secret.data()[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  Result<signer::PrivateKey> key = signer::ImportPrivateKey(*type, secret.span());
  if (!key.ok()) {
    return BadKeyFile(path, key.error().message());
  }
  return key;
}

Result<std::string> DidKeyOf(const signer::PrivateKey& key) {
  MD_ASSIGN_OR_RETURN(signer::PublicKey pub, signer::DerivePublicKey(key));
  return signer::DidKeyFromPublicKey(pub);
}

Result<std::string> SessionAssertion(const signer::PrivateKey& key, const std::string& audience,
                                     int64_t now, Random& random) {
  MD_ASSIGN_OR_RETURN(signer::PublicKey pub, signer::DerivePublicKey(key));
  MD_ASSIGN_OR_RETURN(Bytes nonce, random.Generate(18));
  const std::string did = signer::DidKeyFromPublicKey(pub);
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(key.type))));
  header.Set("typ", json::Value::String("JWT"));
  header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(pub)));
  json::Value claims = json::Value::Object();
  claims.Set("iss", json::Value::String(did));
  claims.Set("sub", json::Value::String(did));
  claims.Set("aud", json::Value::String(audience));
  claims.Set("iat", json::Value::Int(now));
  claims.Set("exp", json::Value::Int(now + 120));
  claims.Set("jti", json::Value::String(Base64UrlEncode(nonce)));
  return signer::SignJws(key, std::move(header), json::Write(claims));
}

}  // namespace mandated::cli
