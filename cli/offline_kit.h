// What the offline verification commands share (mandates verify --offline, ap2 verify): reading
// token and JSON files, the time a verification is made at, printing a verdict, and downloading
// the public documents a verification needs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "cli/command_kit.h"

namespace mandated::cli {

// A compact token read from a file: trimmed of surrounding white space, and not empty.
Result<std::string> ReadToken(const std::string& path);
// A JSON file, parsed strictly.
Result<json::Value> ReadJson(const std::string& path);
// The path of an absolute URI ("/v1/..." of "https://host/v1/..."), "" when it has none.
std::string PathOfUri(const std::string& uri);
// Whether `s` is a non-empty id of ours as it appears in a path: [a-z0-9_] only.
bool IsIdText(const std::string& s);
// Creates directory `dir` unless it exists already.
Status MakeDir(const std::string& dir);
// The time of an offline verification: --at (Unix seconds or RFC 3339 UTC), else the clock.
Result<int64_t> VerificationTime(const Context& ctx);
// A verdict as printed: its JSON on stdout; exit 0 when valid, 1 when invalid.
Output VerdictOutput(const std::string& verdict_json, bool valid);
// GETs each (server path, file name) of `wanted` from ctx.server without a credential (public
// documents) into `out_dir` (created if missing), and prints the files written, one a line
// ({"files":[...]} with --json). The first failure stops it, named for `command`.
Output FetchDocuments(const Context& ctx, const std::string& command, const std::string& out_dir,
                      const std::vector<std::pair<std::string, std::string>>& wanted);

}  // namespace mandated::cli
