// Payee domain and resource URL patterns: syntax, matching, and sound inclusion.
#include "mandates/patterns.h"

#include <gtest/gtest.h>

namespace mandated::mandates {
namespace {

TEST(DomainPattern, Syntax) {
  EXPECT_TRUE(IsDomainPattern("shop.example"));
  EXPECT_TRUE(IsDomainPattern("*.shop.example"));
  EXPECT_TRUE(IsDomainPattern("xn--bcher-kva.example"));
  EXPECT_FALSE(IsDomainPattern("example"));
  EXPECT_FALSE(IsDomainPattern("*.example"));
  EXPECT_FALSE(IsDomainPattern("Shop.example"));
  EXPECT_FALSE(IsDomainPattern("-a.example"));
  EXPECT_FALSE(IsDomainPattern("a..example"));
  EXPECT_FALSE(IsDomainPattern("a.example."));
  EXPECT_FALSE(IsDomainPattern("*a.example"));
  EXPECT_FALSE(IsDomainPattern(std::string(64, 'a') + ".example"));
}

TEST(DomainPattern, MatchesAndCovers) {
  EXPECT_TRUE(DomainMatches("*.shop.example", "api.shop.example"));
  EXPECT_TRUE(DomainMatches("*.shop.example", "a.b.shop.example"));
  EXPECT_FALSE(DomainMatches("*.shop.example", "shop.example"));
  EXPECT_FALSE(DomainMatches("*.shop.example", "evilshop.example"));
  EXPECT_TRUE(DomainCovers("*.shop.example", "api.shop.example"));
  EXPECT_TRUE(DomainCovers("*.shop.example", "*.api.shop.example"));
  EXPECT_FALSE(DomainCovers("*.api.shop.example", "*.shop.example"));
  EXPECT_FALSE(DomainCovers("api.shop.example", "*.shop.example"));
  EXPECT_FALSE(DomainCovers("*.shop.example", "shop.example"));
}

TEST(ResourcePattern, Syntax) {
  EXPECT_TRUE(IsResourcePattern("https://api.example.com"));
  EXPECT_TRUE(IsResourcePattern("https://api.example.com/"));
  EXPECT_TRUE(IsResourcePattern("https://api.example.com/v1/**"));
  EXPECT_TRUE(IsResourcePattern("http://localhost:8080/x/*.json"));
  EXPECT_TRUE(IsResourcePattern("https://*.cdn.example/img/*"));
  EXPECT_FALSE(IsResourcePattern("https://API.example.com/"));
  EXPECT_FALSE(IsResourcePattern("https://api.example.com//x"));
  EXPECT_FALSE(IsResourcePattern("https://api.example.com/./x"));
  EXPECT_FALSE(IsResourcePattern("https://api.example.com/a**"));
  EXPECT_FALSE(IsResourcePattern("https://api.example.com/x#frag"));
  EXPECT_FALSE(IsResourcePattern("https://api.example.com/a b"));
  EXPECT_FALSE(IsResourcePattern("https://api.example.com:99999/"));
  EXPECT_FALSE(IsResourcePattern("wss://api.example.com/"));
  EXPECT_FALSE(IsResourcePattern("api.example.com/x"));
  EXPECT_FALSE(IsResourcePattern("https://user@api.example.com/x"));
}

TEST(ResourcePattern, Matches) {
  const char* p = "https://api.example.com/v1/**";
  EXPECT_TRUE(ResourceMatches(p, "https://api.example.com/v1"));
  EXPECT_TRUE(ResourceMatches(p, "https://api.example.com/v1/"));
  EXPECT_TRUE(ResourceMatches(p, "https://api.example.com/v1/a/b/c"));
  EXPECT_FALSE(ResourceMatches(p, "https://api.example.com/v2/a"));
  EXPECT_FALSE(ResourceMatches(p, "https://api.example.com/v10"));
  EXPECT_FALSE(ResourceMatches(p, "http://api.example.com/v1/a"));
  EXPECT_FALSE(ResourceMatches(p, "https://api.example.com.evil/v1/a"));
  const char* q = "https://*.cdn.example/img/*.png";
  EXPECT_TRUE(ResourceMatches(q, "https://eu.cdn.example/img/cat.png"));
  EXPECT_FALSE(ResourceMatches(q, "https://eu.cdn.example/img/a/cat.png"));
  EXPECT_FALSE(ResourceMatches(q, "https://cdn.example/img/cat.png"));
  EXPECT_FALSE(ResourceMatches(q, "https://eu.cdn.example/img/cat.jpg"));
}

TEST(ResourcePattern, AmbiguousSegments) {
  for (const char* seg : {".", "..", "%2e", "%2E%2e", ".%2e", "..;", ".;", "..;x=1", "%2e%2e;a",
                          "..%3bx", "..%3B", ";", ";jsessionid=1", "a%2fb", "%2F", "a%5cb",
                          "%5C..", "a\\b"}) {
    EXPECT_TRUE(IsAmbiguousPathSegment(seg)) << seg;
  }
  for (const char* seg : {"", "v1", "...", "a..b", "..a", "a;b", ".a;b", "%2e%2e%2e", "%2g",
                          "a%20b", "%25%32%65", "%2"}) {
    EXPECT_FALSE(IsAmbiguousPathSegment(seg)) << seg;
  }
}

// A URL a server would resolve outside the pattern matches nothing, even where '*' or '**' would
// take the segment as written (purchases built without ParsePurchase reach the matcher too).
TEST(ResourcePattern, PathTricksMatchNothing) {
  const char* tail = "https://api.example.com/v1/**";
  const char* star = "https://api.example.com/v1/*/public";
  for (const char* url : {"https://api.example.com/v1/..;/admin",
                          "https://api.example.com/v1/%2e%2e%2fadmin",
                          "https://api.example.com/v1/a%2F..%2Fb",
                          "https://api.example.com/v1/..%5cadmin",
                          "https://api.example.com/v1/../admin",
                          "https://api.example.com/v1/%2E%2E/admin",
                          "https://api.example.com/v1//admin"}) {
    EXPECT_FALSE(ResourceMatches(tail, url)) << url;
  }
  EXPECT_TRUE(ResourceMatches(star, "https://api.example.com/v1/a/public"));
  EXPECT_FALSE(ResourceMatches(star, "https://api.example.com/v1/..;/public"));
  EXPECT_FALSE(ResourceMatches(star, "https://api.example.com/v1/.;x/public"));
  EXPECT_FALSE(ResourceMatches(star, "https://api.example.com/v1/x%2f..%2f..%2fadmin/public"));
  EXPECT_FALSE(ResourceMatches(star, "https://api.example.com/v1/a%5C..%5C../public"));
}

TEST(ResourcePattern, CoversOnlyNarrowerPatterns) {
  const char* p = "https://api.example.com/v1/**";
  EXPECT_TRUE(ResourceCovers(p, p));
  EXPECT_TRUE(ResourceCovers(p, "https://api.example.com/v1"));
  EXPECT_TRUE(ResourceCovers(p, "https://api.example.com/v1/search/*"));
  EXPECT_TRUE(ResourceCovers(p, "https://api.example.com/v1/a/**"));
  EXPECT_FALSE(ResourceCovers(p, "https://api.example.com/**"));
  EXPECT_FALSE(ResourceCovers(p, "https://api.example.com/*/x"));
  EXPECT_FALSE(ResourceCovers(p, "http://api.example.com/v1/x"));
  EXPECT_TRUE(ResourceCovers("https://a.example/*/x", "https://a.example/v1/x"));
  EXPECT_TRUE(ResourceCovers("https://a.example/*/x", "https://a.example/v*/x"));
  EXPECT_FALSE(ResourceCovers("https://a.example/v*/x", "https://a.example/*/x"));
  EXPECT_FALSE(ResourceCovers("https://a.example/*/x", "https://a.example/a/**"));
  EXPECT_TRUE(ResourceCovers("https://*.a.example/x", "https://*.b.a.example/x"));
  EXPECT_FALSE(ResourceCovers("https://*.b.a.example/x", "https://*.a.example/x"));
}

}  // namespace
}  // namespace mandated::mandates
