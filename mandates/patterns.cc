// Domain and resource URL patterns: syntax, matching and inclusion (specs/mandate.md §3.1).
#include "mandates/patterns.h"

#include <string>
#include <vector>

namespace mandated::mandates {
namespace {

bool LabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) {
    return false;
  }
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!LabelChar(c)) {
        return false;
      }
    }
    ++labels;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return labels >= 2;
}

// '*' in `pattern` matches any run of characters; everything else matches itself.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

struct SplitUrl {
  std::string_view scheme;
  std::vector<std::string_view> segments;  // [0] is the authority
};

bool Split(std::string_view url, SplitUrl& out) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return false;
  }
  out.scheme = url.substr(0, sep);
  std::string_view rest = url.substr(sep + 3);
  out.segments.clear();
  size_t start = 0;
  while (true) {
    size_t slash = rest.find('/', start);
    if (slash == std::string_view::npos) {
      out.segments.push_back(rest.substr(start));
      break;
    }
    out.segments.push_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  return true;
}

bool IsAuthorityPattern(std::string_view authority) {
  size_t colon = authority.find(':');
  std::string_view host = authority.substr(0, colon);
  if (colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5) {
      return false;
    }
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') {
        return false;
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535 || port[0] == '0') {
      return false;
    }
  }
  return IsDomainPattern(host) || host == "localhost";
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// True if `s` at `i` is '%' followed by the two hex digits of `code` (lower case), in any case.
bool IsEscape(std::string_view s, size_t i, std::string_view code) {
  return i + 2 < s.size() && s[i] == '%' && LowerAscii(s[i + 1]) == code[0] &&
         LowerAscii(s[i + 2]) == code[1];
}

}  // namespace

bool IsAmbiguousPathSegment(std::string_view seg) {
  size_t params = seg.size();  // where path parameters (";..." or "%3b...") start
  for (size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '\\' || IsEscape(seg, i, "2f") || IsEscape(seg, i, "5c")) {
      return true;
    }
    if (params == seg.size() && (seg[i] == ';' || IsEscape(seg, i, "3b"))) {
      params = i;
    }
  }
  if (params == 0 && !seg.empty()) {
    return true;  // ";x": an empty segment with parameters
  }
  std::string name;  // the segment before its parameters, %2e decoded
  for (size_t i = 0; i < params; ++i) {
    if (IsEscape(seg, i, "2e")) {
      name += '.';
      i += 2;
    } else {
      name += seg[i];
    }
  }
  return name == "." || name == "..";
}

bool IsDomainPattern(std::string_view pattern) {
  if (pattern.substr(0, 2) == "*.") {
    return IsHostName(pattern.substr(2));
  }
  return IsHostName(pattern);
}

bool DomainMatches(std::string_view pattern, std::string_view host) {
  if (pattern.substr(0, 2) == "*.") {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return pattern == host;
}

bool DomainCovers(std::string_view parent, std::string_view child) {
  // A child "*.a.example.com" is covered by "*.example.com": its hosts all end in ".example.com".
  return parent == child || DomainMatches(parent, child);
}

bool IsResourcePattern(std::string_view pattern) {
  if (pattern.size() > 2048) {
    return false;
  }
  for (char c : pattern) {
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '\\') {
      return false;
    }
  }
  SplitUrl s;
  if (!Split(pattern, s) || (s.scheme != "https" && s.scheme != "http")) {
    return false;
  }
  if (!IsAuthorityPattern(s.segments[0])) {
    return false;
  }
  for (size_t i = 1; i < s.segments.size(); ++i) {
    std::string_view seg = s.segments[i];
    const bool last = i + 1 == s.segments.size();
    if (seg == "**") {
      if (!last) {
        return false;
      }
      continue;
    }
    if ((seg.empty() && !last) || seg == "." || seg == ".." ||
        seg.find("**") != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool ResourceMatches(std::string_view pattern, std::string_view url) {
  SplitUrl p;
  SplitUrl u;
  if (!Split(pattern, p) || !Split(url, u) || p.scheme != u.scheme) {
    return false;
  }
  // A segment a server would resolve otherwise (".." and its disguises, encoded separators) could
  // step out of what '*' or '**' allow: such a URL matches nothing. ParsePurchase refuses it.
  for (size_t i = 1; i < u.segments.size(); ++i) {
    if ((u.segments[i].empty() && i + 1 < u.segments.size()) ||
        IsAmbiguousPathSegment(u.segments[i])) {
      return false;
    }
  }
  const size_t n = p.segments.size();
  const bool tail = p.segments.back() == "**";
  const size_t fixed = tail ? n - 1 : n;
  if (tail ? u.segments.size() < fixed : u.segments.size() != fixed) {
    return false;
  }
  for (size_t i = 0; i < fixed; ++i) {
    if (!GlobMatch(p.segments[i], u.segments[i])) {
      return false;
    }
  }
  return true;
}

bool ResourceCovers(std::string_view parent, std::string_view child) {
  if (parent == child) {
    return true;
  }
  SplitUrl p;
  SplitUrl c;
  if (!Split(parent, p) || !Split(child, c) || p.scheme != c.scheme) {
    return false;
  }
  const size_t n = p.segments.size();
  const bool tail = p.segments.back() == "**";
  const size_t fixed = tail ? n - 1 : n;
  if (tail ? c.segments.size() < fixed : c.segments.size() != fixed) {
    return false;
  }
  // Treating the child's '*' as a literal is sound: a parent '*' is the only thing that can
  // match it, and that '*' would match whatever the child's '*' stands for.
  for (size_t i = 0; i < fixed; ++i) {
    if (c.segments[i] == "**" || !GlobMatch(p.segments[i], c.segments[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace mandated::mandates
