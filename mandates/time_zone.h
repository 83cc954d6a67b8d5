// IANA time zone names: the one check of whether a name is a real zone of the system's tz
// database (used for calendar windows and business hours, specs/mandate.md §3.2).
#pragma once

#include <string_view>

namespace mandated::mandates {

// True if `name` is an IANA zone name ("Europe/Paris", "UTC", "America/Argentina/Buenos_Aires")
// whose compiled file /usr/share/zoneinfo/<name> exists, is a regular file and starts with the
// TZif magic. Names are 1 to 64 characters of [A-Za-z0-9_+-/], with no empty segment, no "."
// (so no ".."), no leading "/", and not under posix/ or right/, nor "localtime"/"posixrules".
// Thread safety: safe from any thread (reads the file system only).
bool IsIanaTimeZone(std::string_view name);

}  // namespace mandated::mandates
