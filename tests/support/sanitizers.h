// Whether a test binary is built with a sanitizer, and the share of their work load tests do
// there: the instrumented service is several times slower, and what a sanitizer finds (a bad
// access, a leak, a race) shows in a quarter of the requests as well as in all of them. The full
// counts, and the figures they print, run in the plain build.
#pragma once

namespace mandated::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kUnderSanitizer = true;
#else
inline constexpr bool kUnderSanitizer = false;
#endif
#else
inline constexpr bool kUnderSanitizer = false;
#endif

// What a load test divides its request count (and the limits sized for it) by.
inline constexpr int kLoadDivisor = kUnderSanitizer ? 4 : 1;

}  // namespace mandated::testing
