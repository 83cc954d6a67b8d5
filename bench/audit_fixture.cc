// Builds and measures a large audit log fixture outside CI (specs/audit.md; issue 7's 10^7-event
// figures in BENCHMARKS.md). Not part of bench/run.sh: building 10^7 events takes about
// 15 minutes on 2 cores.
//
//   audit_fixture --dir DIR --events N [--seed S]
//       Builds (or continues, if DIR holds a smaller fixture of the same seed) a service data
//       store holding N sequenced events of the realistic mix of bench/audit_mix.h, staged with
//       audit::Stage and sequenced by audit::Log::Sequence: leaves, Merkle nodes and trail
//       index are the log's own. Progress on stderr; one JSON line on stdout at the end.
//   audit_fixture --dir DIR --measure [--trails K] [--export-events M] [--principal-export]
//                 [--label TEXT]
//       Opens the store as the service does and prints JSON lines: the trail (Log::Trail) of K
//       purchases (1,000 by default) drawn uniformly from every purchase the log holds, with
//       p50/p99/max; when the log holds at most M events (1,000,000 by default), Log::Export of
//       the whole log (a complete prefix) and audit::VerifyBundle of it, timed apart; with
//       --principal-export, the export of one principal's events (inclusion proofs) and its
//       verification, for information. --label adds "label":TEXT to the trail and export
//       lines (the state the store was in, for the report).
//
// DIR holds data/ (the service's data directory: data/db is the RocksDB store), data.kek (the
// development key-encryption key, as the service creates it beside its data directory) and
// fixture.json (the seed). Start the service with data_dir DIR/data to browse it.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/bundle.h"
#include "audit/event.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "base/clock.h"
#include "base/random.h"
#include "base/result.h"
#include "bench/audit_mix.h"
#include "identity/directory.h"
#include "identity/operator_auth.h"
#include "identity/principals.h"
#include "identity/tenant.h"
#include "settlement/facilitator.h"
#include "settlement/ledger.h"
#include "settlement/usage.h"
#include "signer/kek.h"
#include "signer/key_store.h"
#include "store/rocks_store.h"

namespace mandated::audit {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The store, key store and log of a fixture directory, opened as api/app.cc opens them.
// Thread safety: none (one tool, one thread).
class Fixture {
 public:
  static Result<std::unique_ptr<Fixture>> Open(const std::string& dir) {
    std::unique_ptr<Fixture> f(new Fixture());
    const std::string data_dir = dir + "/data";
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) return UnavailableError("cannot create " + data_dir + ": " + ec.message());
    store::RocksStoreOptions so;
    so.path = data_dir + "/db";
    // The service's families (api/app.cc).
    so.column_families = {identity::kPrincipalsFamily, identity::kOperatorFamily,
                          signer::kKeysFamily, identity::kTenantsFamily,
                          identity::kIdentityIndexFamily, std::string(kAuditFamily),
                          settlement::kLedgerFamily, settlement::kX402Family,
                          settlement::kUsageFamily};
    MD_ASSIGN_OR_RETURN(f->kv_, store::OpenRocksStore(so));
    MD_ASSIGN_OR_RETURN(signer::LoadedKek kek, signer::LoadKek({"", data_dir}));
    MD_ASSIGN_OR_RETURN(f->keys_, signer::KeyStore::Open(*f->kv_, std::move(kek.key),
                                                         SystemClock::Get(), SystemRandom::Get()));
    MD_ASSIGN_OR_RETURN(f->log_,
                        Log::Open(*f->kv_, *f->keys_, SystemClock::Get(), "fixture.example/audit"));
    return f;
  }

  store::KvStore& kv() { return *kv_; }
  Log& log() { return *log_; }

 private:
  Fixture() = default;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Log> log_;
};

uint64_t BytesOnDisk(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uintmax_t n = it->file_size(size_ec);
      if (!size_ec) total += n;
    }
  }
  return total;
}

std::string Now() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double LoadAverage() {
  double load[1] = {-1};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

// The seed a fixture directory was built with (fixture.json), or nullopt for a new directory.
Result<std::optional<uint64_t>> ReadSeed(const std::string& dir) {
  std::ifstream in(dir + "/fixture.json");
  if (!in) return std::optional<uint64_t>();
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const size_t at = s.find("\"seed\":");
  if (at == std::string::npos) return DataLossError(dir + "/fixture.json names no seed");
  uint64_t seed = 0;
  size_t i = at + 7;
  if (i >= s.size() || s[i] < '0' || s[i] > '9') {
    return DataLossError(dir + "/fixture.json: malformed seed");
  }
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) seed = seed * 10 + (s[i] - '0');
  return std::optional<uint64_t>(seed);
}

Status WriteSeed(const std::string& dir, uint64_t seed) {
  std::ofstream out(dir + "/fixture.json");
  out << "{\"seed\":" << seed << ",\"mix\":\"bench/audit_mix.h\"}\n";
  out.close();
  if (!out) return UnavailableError("cannot write " + dir + "/fixture.json");
  return OkStatus();
}

// Stages and sequences events until the log holds `target`.
Status Build(const std::string& dir, uint64_t target, uint64_t seed) {
  const auto start = Clock::now();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return UnavailableError("cannot create " + dir + ": " + ec.message());
  MD_ASSIGN_OR_RETURN(std::optional<uint64_t> pinned, ReadSeed(dir));
  if (pinned && *pinned != seed) {
    return FailedPreconditionError(dir + " was built with seed " + std::to_string(*pinned) +
                                   "; pass --seed " + std::to_string(*pinned) + " to continue it");
  }
  if (!pinned) MD_RETURN_IF_ERROR(WriteSeed(dir, seed));
  MD_ASSIGN_OR_RETURN(std::unique_ptr<Fixture> f, Fixture::Open(dir));
  // A run that stopped between staging and sequencing left staged events: they are the next
  // ones of the stream (batches are written in order), so sequence them first.
  const auto resume_start = Clock::now();
  MD_RETURN_IF_ERROR(f->log().SequenceAll().status());
  const uint64_t had = f->log().size();
  bench_mix::Filler filler(seed);
  filler.SkipUntil(had);
  fprintf(stderr, "audit_fixture: %s holds %llu events (resumed in %.1f s); building to %llu\n",
          dir.c_str(), static_cast<unsigned long long>(had), Since(resume_start),
          static_cast<unsigned long long>(target));
  // Stage a round, then sequence it as the service's sequencer does (Log::Sequence writes
  // batches of 4,096 leaves, synced). That pass starts at the oldest key this process staged in
  // the last 5 s; a round that took longer than that on a busy machine leaves its older keys to
  // the full pass (SequenceAll), as the service's minutely one would: counted, not hidden.
  constexpr uint64_t kRound = 16384;
  uint64_t full_passes = 0;
  auto last_report = Clock::now();
  const auto build_start = Clock::now();
  while (f->log().size() < target) {
    MD_RETURN_IF_ERROR(filler.StageUntil(f->kv(), std::min(target, filler.staged() + kRound)));
    MD_RETURN_IF_ERROR(f->log().Sequence().status());
    if (f->log().size() != filler.staged()) {
      ++full_passes;
      MD_RETURN_IF_ERROR(f->log().SequenceAll().status());
    }
    if (f->log().size() != filler.staged()) {
      return InternalError("the log holds " + std::to_string(f->log().size()) +
                           " events after staging " + std::to_string(filler.staged()));
    }
    if (Since(last_report) >= 10 || f->log().size() >= target) {
      last_report = Clock::now();
      const double secs = Since(build_start);
      const double rate = static_cast<double>(f->log().size() - had) / std::max(secs, 1e-9);
      fprintf(stderr,
              "audit_fixture: %llu / %llu events, %.0f events/s, %.0f s, eta %.0f s, load %.1f\n",
              static_cast<unsigned long long>(f->log().size()),
              static_cast<unsigned long long>(target), rate, secs,
              static_cast<double>(target - f->log().size()) / std::max(rate, 1e-9),
              LoadAverage());
    }
  }
  const double build_seconds = Since(build_start);
  // A checkpoint of the final tree, as the service publishes one within a minute.
  MD_ASSIGN_OR_RETURN(SignedCheckpoint checkpoint, f->log().Latest());
  const uint64_t size = f->log().size();
  f.reset();  // close the store before measuring it
  printf("{\"tool\":\"audit_fixture\",\"what\":\"build\",\"date\":\"%s\",\"events\":%llu,"
         "\"added\":%llu,\"seed\":%llu,\"full_passes\":%llu,\"build_seconds\":%.1f,"
         "\"seconds\":%.1f,"
         "\"bytes_on_disk\":%llu,\"root\":\"%s\",\"cpus\":%u,\"load_avg_end\":%.2f}\n",
         Now().c_str(), static_cast<unsigned long long>(size),
         static_cast<unsigned long long>(size - had), static_cast<unsigned long long>(seed),
         static_cast<unsigned long long>(full_passes), build_seconds, Since(start),
         static_cast<unsigned long long>(BytesOnDisk(dir)),
         HashHex(checkpoint.root).c_str(), std::thread::hardware_concurrency(), LoadAverage());
  fflush(stdout);
  return OkStatus();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// TEXT as a JSON string's contents (quotes, backslashes and control characters escaped).
std::string JsonEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

Status MeasureExport(Fixture& f, const TrailQuery& q, size_t max_events, const char* shape,
                     const std::string& label) {
  const uint64_t size = f.log().size();
  const auto t0 = Clock::now();
  Result<std::string> bundle = f.log().Export(q, max_events);
  if (!bundle.ok()) return bundle.error();
  const double export_s = Since(t0);
  const auto t1 = Clock::now();
  BundleReport r = VerifyBundle(*bundle, BundleVerifyOptions{});
  const double verify_s = Since(t1);
  printf("{\"tool\":\"audit_fixture\",\"what\":\"export\",\"shape\":\"%s\",\"events_stored\":%llu,"
         "\"events\":%llu,\"bundle_bytes\":%zu,\"export_seconds\":%.3f,\"verify_seconds\":%.3f,"
         "\"verified\":%s,\"finding\":\"%s\",\"label\":\"%s\",\"load_avg\":%.2f}\n",
         shape, static_cast<unsigned long long>(size), static_cast<unsigned long long>(r.events),
         bundle->size(), export_s, verify_s, r.ok() ? "true" : "false",
         r.findings.empty() ? "" : r.findings[0].code.c_str(), JsonEscape(label).c_str(),
         LoadAverage());
  fflush(stdout);
  if (!r.ok()) return DataLossError("the export does not verify: " + r.findings[0].code);
  return OkStatus();
}

Status Measure(const std::string& dir, size_t trails, uint64_t export_events,
               bool principal_export, const std::string& label) {
  MD_ASSIGN_OR_RETURN(std::optional<uint64_t> seed, ReadSeed(dir));
  if (!seed) return NotFoundError(dir + " holds no fixture (no fixture.json)");
  const auto open_start = Clock::now();
  MD_ASSIGN_OR_RETURN(std::unique_ptr<Fixture> f, Fixture::Open(dir));
  const double open_s = Since(open_start);
  // The first pass after opening walks every staged key (specs/audit.md §1.1): the service's
  // first read or sequencer tick pays it, so it is timed apart from the trails.
  const auto pass_start = Clock::now();
  MD_ASSIGN_OR_RETURN(uint64_t leftover, f->log().Sequence());
  const double first_pass_s = Since(pass_start);
  const uint64_t size = f->log().size();
  printf("{\"tool\":\"audit_fixture\",\"what\":\"open\",\"date\":\"%s\",\"events_stored\":%llu,"
         "\"bytes_on_disk\":%llu,\"open_seconds\":%.3f,\"first_pass_seconds\":%.6f,"
         "\"sequenced_at_open\":%llu,\"cpus\":%u,\"load_avg\":%.2f}\n",
         Now().c_str(), static_cast<unsigned long long>(size),
         static_cast<unsigned long long>(BytesOnDisk(dir)), open_s, first_pass_s,
         static_cast<unsigned long long>(leftover), std::thread::hardware_concurrency(),
         LoadAverage());
  fflush(stdout);

  // Every purchase of the stream that the log holds completely.
  const auto gen_start = Clock::now();
  bench_mix::Filler filler(*seed, /*record_purchases=*/true);
  filler.SkipUntil(size);
  std::vector<bench_mix::Filler::Purchase> purchases;
  for (const auto& p : filler.purchases()) {
    if (p.last_seq <= size) purchases.push_back(p);
  }
  if (purchases.empty()) return FailedPreconditionError("the log holds no complete purchase");
  fprintf(stderr, "audit_fixture: %zu purchases in %llu events (regenerated in %.1f s)\n",
          purchases.size(), static_cast<unsigned long long>(size), Since(gen_start));

  std::mt19937_64 rng(20261205);
  std::uniform_int_distribution<size_t> pick(0, purchases.size() - 1);
  std::vector<double> ms;
  uint64_t returned = 0, max_returned = 0, seq_sum = 0;
  for (size_t i = 0; i < trails; ++i) {
    const bench_mix::Filler::Purchase& p = purchases[pick(rng)];
    TrailQuery q;
    q.authorization = bench_mix::Id("atz", p.number);
    const auto t0 = Clock::now();
    Result<TrailPage> page = f->log().Trail(q, std::nullopt, 100);
    ms.push_back(Since(t0) * 1e3);
    if (!page.ok()) return page.error();
    if (page->items.size() < p.events) {
      return DataLossError("the trail of " + q.authorization + " holds " +
                           std::to_string(page->items.size()) + " events");
    }
    returned += page->items.size();
    max_returned = std::max<uint64_t>(max_returned, page->items.size());
    seq_sum += p.last_seq;
  }
  printf("{\"tool\":\"audit_fixture\",\"what\":\"trail\",\"events_stored\":%llu,"
         "\"purchases_in_log\":%zu,\"trails\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
         "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"mean_events_returned\":%.2f,"
         "\"max_events_returned\":%llu,\"mean_position\":%.3f,\"label\":\"%s\","
         "\"load_avg\":%.2f}\n",
         static_cast<unsigned long long>(size), purchases.size(), ms.size(),
         Percentile(ms, 0.50), Percentile(ms, 0.99), Percentile(ms, 1.0),
         [&] {
           double s = 0;
           for (double m : ms) s += m;
           return s / static_cast<double>(ms.size());
         }(),
         static_cast<double>(returned) / static_cast<double>(ms.size()),
         static_cast<unsigned long long>(max_returned),
         static_cast<double>(seq_sum) / static_cast<double>(ms.size()) /
             static_cast<double>(size),
         JsonEscape(label).c_str(), LoadAverage());
  fflush(stdout);

  // The operator's export of the whole log: a complete prefix (Log::Export holds at most
  // `export_events`, as the route's 1,000,000).
  if (size <= export_events) {
    MD_RETURN_IF_ERROR(MeasureExport(*f, TrailQuery{}, export_events, "whole-log", label));
  } else {
    printf("{\"tool\":\"audit_fixture\",\"what\":\"export\",\"shape\":\"whole-log\","
           "\"events_stored\":%llu,\"skipped\":\"the log holds more than %llu events\"}\n",
           static_cast<unsigned long long>(size), static_cast<unsigned long long>(export_events));
  }
  if (principal_export) {
    TrailQuery q;
    q.principal = bench_mix::Id("prn", 1);
    MD_RETURN_IF_ERROR(MeasureExport(*f, q, export_events, "principal", label));
  }
  return OkStatus();
}

bool ParseUint(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0') return false;
  uint64_t v = 0;
  for (const char* c = s; *c; ++c) {
    if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(*c - '0');
  }
  *out = v;
  return true;
}

int Usage() {
  fprintf(stderr,
          "usage: audit_fixture --dir DIR --events N [--seed S]\n"
          "       audit_fixture --dir DIR --measure [--trails K] [--export-events M] "
          "[--principal-export] [--label TEXT]\n");
  return 2;
}

int Main(int argc, char** argv) {
  std::string dir, label;
  uint64_t events = 0, seed = 42, trails = 1000, export_events = 1000000;
  bool measure = false, principal_export = false, have_events = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--dir" && next) {
      dir = next;
      ++i;
    } else if (a == "--events" && ParseUint(next, &events)) {
      have_events = true;
      ++i;
    } else if (a == "--seed" && ParseUint(next, &seed)) {
      ++i;
    } else if (a == "--trails" && ParseUint(next, &trails) && trails > 0) {
      ++i;
    } else if (a == "--export-events" && ParseUint(next, &export_events)) {
      ++i;
    } else if (a == "--label" && next) {
      label = next;
      ++i;
    } else if (a == "--measure") {
      measure = true;
    } else if (a == "--principal-export") {
      principal_export = true;
    } else {
      return Usage();
    }
  }
  if (dir.empty() || measure == have_events) return Usage();
  Status s = measure ? Measure(dir, trails, export_events, principal_export, label)
                     : Build(dir, events, seed);
  if (!s.ok()) {
    fprintf(stderr, "audit_fixture: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace mandated::audit

int main(int argc, char** argv) { return mandated::audit::Main(argc, argv); }
