// IANA time zone name check against the system tz database (/usr/share/zoneinfo).
#include "mandates/time_zone.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace mandated::mandates {
namespace {

constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo/";

bool NameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '+' || c == '-' || c == '/';
}

bool WellFormedName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i])) {
      return false;  // also refuses "." and so ".."
    }
    if (name[i] == '/' && i + 1 < name.size() && name[i + 1] == '/') {
      return false;
    }
  }
  if (name.substr(0, 6) == "posix/" || name.substr(0, 6) == "right/" || name == "localtime" ||
      name == "posixrules") {
    return false;
  }
  return true;
}

}  // namespace

bool IsIanaTimeZone(std::string_view name) {
  if (!WellFormedName(name)) {
    return false;
  }
  const std::string path = std::string(kZoneInfoDir) + std::string(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return false;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return false;
  }
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, sizeof(magic), f);
  std::fclose(f);
  return n == sizeof(magic) && std::memcmp(magic, "TZif", 4) == 0;
}

}  // namespace mandated::mandates
