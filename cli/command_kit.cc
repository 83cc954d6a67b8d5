// Shared building blocks of mandatectl commands: flags, paths, calls and rendering.
#include "cli/command_kit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <charconv>
#include <iterator>

namespace mandated::cli {
namespace {

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string QueryEscape(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace

Output Usage(const std::string& text, int code) {
  Output o;
  (code == 0 ? o.out : o.err) = text;
  o.exit_code = code;
  return o;
}

Output UsageError(const std::string& command, const std::string& message) {
  return Usage("mandatectl " + command + ": " + message + "\n");
}

Output Render(const Context& ctx, const Result<ApiResponse>& r, const LineFn& human) {
  Output o;
  if (!r.ok()) {
    o.err = "mandatectl: " + r.error().message() + "\n";
    o.exit_code = 3;
    return o;
  }
  Result<json::Value> body = json::Parse(r->body);
  if (r->status >= 200 && r->status < 300) {
    if (ctx.json || !body.ok()) {
      o.out = r->body + "\n";
    } else {
      o.out = human(*body);
    }
    return o;
  }
  o.exit_code = 1;
  if (ctx.json) {
    o.out = r->body + "\n";
    return o;
  }
  if (body.ok() && body->is_object() && body->Find("detail") != nullptr) {
    const json::Value* type = body->Find("type");
    o.err = "error " + std::to_string(r->status) + " (" +
            (type != nullptr ? type->as_string() : std::string("?")) +
            "): " + body->Find("detail")->as_string() + "\n";
  } else {
    o.err = "error " + std::to_string(r->status) + ": " + r->body + "\n";
  }
  return o;
}

std::string Str(const json::Value& v, const char* key) {
  const json::Value* f = v.Find(key);
  if (f == nullptr) {
    return "";
  }
  return f->is_string() ? f->as_string() : json::Write(*f);
}

std::string UtcTime(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(unix_seconds);
  }
  return buf;
}

std::optional<std::string> Flag(const Context& ctx, const std::string& name) {
  auto range = ctx.flags.equal_range(name);
  if (range.first == range.second) {
    return std::nullopt;
  }
  return std::prev(range.second)->second;
}

std::vector<std::string> Flags(const Context& ctx, const std::string& name) {
  std::vector<std::string> out;
  auto range = ctx.flags.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::optional<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

Result<std::optional<int64_t>> IntFlag(const Context& ctx, const std::string& name, int64_t min,
                                       int64_t max) {
  std::optional<std::string> text = Flag(ctx, name);
  if (!text.has_value()) {
    return std::optional<int64_t>();
  }
  std::optional<int64_t> v = ParseInt(*text, min, max);
  if (!v.has_value()) {
    return InvalidArgumentError(name + " wants a whole number from " + std::to_string(min) +
                                    " to " + std::to_string(max) + ", got \"" + *text + "\"",
                                "usage");
  }
  return v;
}

void SetFromFlag(json::Value& body, const char* key, const Context& ctx, const std::string& flag) {
  if (std::optional<std::string> v = Flag(ctx, flag)) {
    body.Set(key, json::Value::String(*v));
  }
}

void SetListFromFlag(json::Value& body, const char* key, const Context& ctx,
                     const std::string& flag) {
  std::vector<std::string> values = Flags(ctx, flag);
  if (values.empty()) {
    return;
  }
  json::Value list = json::Value::Array();
  for (std::string& v : values) {
    list.Append(json::Value::String(std::move(v)));
  }
  body.Set(key, std::move(list));
}

Result<std::string> Where(const Context& ctx, const std::string& collection) {
  if (collection.rfind('/', 0) == 0) {
    return collection;
  }
  if (ctx.principal.empty()) {
    return InvalidArgumentError("give the principal with --principal ID or MANDATED_PRINCIPAL",
                                "usage");
  }
  return "/v1/principals/" + ctx.principal + "/" + collection;
}

Output Call(const Context& ctx, Method method, const std::string& collection,
            const std::string& body, const LineFn& line) {
  Result<std::string> path = Where(ctx, collection);
  if (!path.ok()) {
    return Usage("mandatectl: " + path.error().message() + "\n");
  }
  ApiClient c(ctx.server, ctx.token);
  switch (method) {
    case Method::kGet:
      return Render(ctx, c.Get(*path), line);
    case Method::kPost:
      return Render(ctx, c.PostJson(*path, body), line);
    case Method::kDelete:
      return Render(ctx, c.Delete(*path), line);
  }
  return Usage("mandatectl: unknown method\n");
}

Command OnOne(const std::string& group, const std::string& verb, const std::string& collection,
              const std::string& summary, LineFn line) {
  const std::string name = group + " " + verb;
  return {name, "ID", summary, [=](Context& ctx) {
            if (ctx.positional.size() != 1) {
              return UsageError(name, "give exactly one id");
            }
            const std::string one = collection + "/" + ctx.positional[0];
            return verb == "get" ? Call(ctx, Method::kGet, one, "", line)
                                 : Call(ctx, Method::kPost, one + "/" + verb, "", line);
          }};
}

Command ListOf(const std::string& group, const std::string& collection, const std::string& usage,
               const std::string& summary, std::vector<std::string> query_flags, LineFn line) {
  return {group + " list", usage, summary, [=](Context& ctx) {
            std::string path = collection;
            char sep = '?';
            for (const std::string& f : query_flags) {
              if (std::optional<std::string> v = Flag(ctx, f)) {
                path += sep + f.substr(2) + "=" + QueryEscape(*v);
                sep = '&';
              }
            }
            return Call(ctx, Method::kGet, path, "", [&](const json::Value& v) {
              std::string out;
              if (const json::Value* items = v.Find("items")) {
                for (const json::Value& item : items->items()) {
                  out += line(item);
                }
              }
              if (const json::Value* next = v.Find("next_after")) {
                out += "(more: --after " + next->as_string() + ")\n";
              }
              return out.empty() ? "no " + group + "\n" : out;
            });
          }};
}

LineFn WithToken(LineFn line) {
  return [line = std::move(line)](const json::Value& v) {
    return line(v) + "token: " + Str(v, "token") +
           "\nThis token is shown once and cannot be retrieved again: store it now.\n";
  };
}

Result<std::string> ReadInput(const std::string& path, size_t max_bytes) {
  FILE* f = path == "-" ? stdin : fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return UnavailableError("cannot read " + path + ": " + strerror(errno), "io");
  }
  std::string out;
  char buf[65536];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out.size() <= max_bytes) {
    out.append(buf, n);
  }
  const bool failed = ferror(f) != 0;
  if (f != stdin) {
    fclose(f);
  }
  if (failed) {
    return UnavailableError("cannot read " + path, "io");
  }
  if (out.size() > max_bytes) {
    return InvalidArgumentError(path + " is larger than " + std::to_string(max_bytes >> 20) + " MiB",
                                "too-large");
  }
  return out;
}

Status WriteOutput(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return UnavailableError("cannot write " + path + ": " + strerror(errno), "io");
  }
  const bool written = fwrite(content.data(), 1, content.size(), f) == content.size();
  const bool closed = fclose(f) == 0;
  if (!written || !closed || rename(tmp.c_str(), path.c_str()) != 0) {
    remove(tmp.c_str());
    return UnavailableError("cannot write " + path + ": " + strerror(errno), "io");
  }
  return OkStatus();
}

}  // namespace mandated::cli
