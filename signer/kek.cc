// KEK loading and development-mode creation.
#include "signer/kek.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "base/random.h"

namespace mandated::signer {
namespace {

Status BadKek(const std::string& path, const std::string& why) {
  return FailedPreconditionError("key-encryption key " + path + ": " + why, "bad-kek");
}

// Makes the entries of directory `dir` durable (fsync of the directory itself).
bool SyncDirectory(const std::filesystem::path& dir) {
  const std::string path = dir.empty() ? std::string(".") : dir.string();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  const bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

Result<SecretBytes> ReadKekFile(const std::string& path) {
  // The checks are made on the file opened, not on the path before opening it, so the file
  // cannot be swapped in between.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return BadKek(path, "cannot be read (missing?)");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return BadKek(path, "is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    close(fd);
    return BadKek(path, "is accessible by group or others; chmod 600 it");
  }
  SecretBytes text(128);
  ssize_t n = read(fd, text.data(), text.size());
  close(fd);
  if (n < 64) {
    return BadKek(path, "must hold 64 hexadecimal characters (32 bytes)");
  }
  size_t len = static_cast<size_t>(n);
  while (len > 64 && (text.data()[len - 1] == '\n' || text.data()[len - 1] == '\r')) {
    --len;
  }
  if (len != 64) {
    return BadKek(path, "must hold exactly 64 hexadecimal characters (32 bytes)");
  }
  Result<Bytes> raw = HexDecode(std::string_view(reinterpret_cast<const char*>(text.data()), 64));
  if (!raw.ok()) {
    return BadKek(path, "is not hexadecimal");
  }
  return SecretBytes::Adopt(std::move(*raw));
}

}  // namespace

Result<LoadedKek> LoadKek(const KekSource& source) {
  LoadedKek out;
  if (!source.file.empty()) {
    out.path = source.file;
    MD_ASSIGN_OR_RETURN(out.key, ReadKekFile(source.file));
    return out;
  }
  // Beside, never inside, the data directory: "." or "data/." name the directory itself, and
  // appending ".kek" to them would put the file inside it, where a copy of the data takes the
  // KEK along. So the path is made absolute and normal first ("/srv/data/." is "/srv/data").
  std::error_code abs_ec;
  std::string dir =
      std::filesystem::absolute(source.data_dir, abs_ec).lexically_normal().string();
  if (abs_ec) dir = source.data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty() || dir == "/") {
    return InvalidArgumentError("the data directory " + source.data_dir +
                                    " has no parent to keep its KEK beside it: set the KEK file",
                                "bad-kek");
  }
  out.path = dir + ".kek";
  std::error_code ec;
  if (std::filesystem::exists(out.path, ec)) {
    MD_ASSIGN_OR_RETURN(out.key, ReadKekFile(out.path));
    return out;
  }
  std::filesystem::path parent = std::filesystem::path(out.path).parent_path();
  // The directories created for the file: each one's entry must be made durable in its parent,
  // as the file's in `parent`.
  std::vector<std::filesystem::path> created;
  for (std::filesystem::path p = parent; !p.empty() && !std::filesystem::exists(p, ec);
       p = p.parent_path()) {
    created.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
  }
  MD_ASSIGN_OR_RETURN(Bytes raw, SystemRandom::Get().Generate(32));
  // Written as the hex, then the newline: appending to the string would move it to a larger
  // buffer and leave the first one unwiped.
  std::string hex = HexEncode(raw);
  int fd = open(out.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    SecureWipe(raw.data(), raw.size());
    SecureWipe(hex.data(), hex.size());
    return BadKek(out.path, "cannot be created");
  }
  bool ok = write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) &&
            write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  close(fd);
  SecureWipe(hex.data(), hex.size());
  if (!ok) {
    SecureWipe(raw.data(), raw.size());
    return BadKek(out.path, "cannot be written");
  }
  // Without this a crash could lose the new file's directory entry, and the next start would
  // make another KEK under which no key sealed meanwhile opens (wrong-kek).
  bool synced = SyncDirectory(parent);
  for (const std::filesystem::path& made : created) {
    synced = SyncDirectory(made.parent_path()) && synced;
  }
  if (!synced) {
    SecureWipe(raw.data(), raw.size());
    return BadKek(out.path, "was created but its directory cannot be synced");
  }
  out.key = SecretBytes::Adopt(std::move(raw));
  out.created_for_development = true;
  return out;
}

}  // namespace mandated::signer
