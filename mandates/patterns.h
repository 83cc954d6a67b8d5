// Payee domain patterns and resource URL patterns (specs/mandate.md §3.1.1, §3.1.2): syntax
// checks, matching, and the "every match of the child is a match of the parent" test that
// attenuation needs.
#pragma once

#include <string_view>

namespace mandated::mandates {

// All functions are pure. Thread safety: safe from any thread.

// A lower-case host name of at least two labels ([a-z0-9-], 1-63 each, no leading or trailing
// '-', at most 253 bytes), optionally prefixed by "*." (any strict subdomain).
bool IsDomainPattern(std::string_view pattern);
// True if `host` (a lower-case host name) matches `pattern`.
bool DomainMatches(std::string_view pattern, std::string_view host);
// True if every host `child` matches is matched by `parent`. REQUIRES: both are patterns.
bool DomainCovers(std::string_view parent, std::string_view child);

// "http(s)://" + host (lower case, maybe "*."-prefixed, optional ":port") + zero or more
// "/segment"s; '*' in a segment matches any run of characters within one segment; a final
// "/**" matches zero or more further segments. At most 2048 printable ASCII bytes; no '?', '#',
// empty inner segments, "." or ".." segments, or "**" anywhere else.
bool IsResourcePattern(std::string_view pattern);
// True if `url` (scheme://host/path, query and fragment removed) matches `pattern`. A URL with
// an empty inner path segment or an ambiguous one (IsAmbiguousPathSegment) matches nothing.
bool ResourceMatches(std::string_view pattern, std::string_view url);
// True for a URL path segment that a server may resolve otherwise than a segment matcher reads
// it (specs/mandate.md §7.2 `resource`): "." or ".." (also written %2e, any case), also when
// followed by path parameters (";..." or "%3b..."), as in "..;x"; a segment that is empty before
// such parameters (";x"); and a segment holding '\' or an encoded '/' or '\' (%2f, %5c, any
// case).
bool IsAmbiguousPathSegment(std::string_view seg);
// True if every URL `child` matches is matched by `parent` (sound, not complete: may answer
// false for some true inclusions, never true for a false one). REQUIRES: both are patterns.
bool ResourceCovers(std::string_view parent, std::string_view child);

}  // namespace mandated::mandates
