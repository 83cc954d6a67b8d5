// Fuzz target: the offline verifier of audit export bundles (audit/bundle.h, specs/audit.md §5),
// which auditors run on files they were handed. Properties: no crash on any bytes (the verifier
// never fails, it reports findings); a report that passes names no findings and counts what it
// read; verifying twice gives the same findings, and so does the bundle fed to a BundleVerifier
// in pieces (their length drawn from the input, so lines and bytes are cut anywhere); with the
// seed bundles' own verifier key as the trusted key, the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "audit/bundle.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace audit = mandated::audit;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bundle(reinterpret_cast<const char*>(data), size);
  audit::BundleVerifyOptions own;
  const audit::BundleReport report = audit::VerifyBundle(bundle, own);
  const audit::BundleReport again = audit::VerifyBundle(bundle, own);
  FUZZ_CHECK(report.findings.size() == again.findings.size());
  for (size_t i = 0; i < report.findings.size(); ++i) {
    FUZZ_CHECK(report.findings[i].code == again.findings[i].code);
    FUZZ_CHECK(!report.findings[i].code.empty());
  }
  // Streamed as `mandatectl audit verify` reads a file: the same report, whatever the cuts.
  const size_t piece = size == 0 ? 1 : 1 + data[size - 1] % 61;
  audit::BundleVerifier streamed(own);
  for (size_t at = 0; at < size; at += piece) streamed.Feed(bundle.substr(at, piece));
  const audit::BundleReport fed = streamed.Finish();
  FUZZ_CHECK(fed.findings.size() == report.findings.size());
  for (size_t i = 0; i < fed.findings.size(); ++i) {
    FUZZ_CHECK(fed.findings[i].code == report.findings[i].code);
    FUZZ_CHECK(fed.findings[i].detail == report.findings[i].detail);
  }
  FUZZ_CHECK(fed.events == report.events && fed.size == report.size &&
             fed.root_hex == report.root_hex && fed.complete_prefix == report.complete_prefix);
  if (report.ok()) {
    FUZZ_CHECK(report.key_from_bundle);
    FUZZ_CHECK(report.events <= report.size);
  }

  // A trusted key that is not the bundle's, and earlier checkpoints taken from the input: a
  // bundle's own checkpoint line, when it is one.
  audit::BundleVerifyOptions trusted;
  trusted.verifier_key =
      "audit.fuzz.example/audit+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const size_t newline = bundle.find('\n');
  trusted.earlier_checkpoints.emplace_back(bundle.substr(0, newline));
  const audit::BundleReport other = audit::VerifyBundle(bundle, trusted);
  FUZZ_CHECK(!other.key_from_bundle);
  return 0;
}
