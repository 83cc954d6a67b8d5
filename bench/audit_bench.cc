// Audit trail benchmarks (audit/log.h, audit/bundle.h) on a real RocksDB store in a temporary
// directory, each beside a raw baseline. Names: Audit/<Operation>[/<events stored>]/<ours|raw>:
//
//   Sequence        Log::Sequence of 4096 staged events (one sequencer batch, synced), per event:
//                   read the staged events, leaf bytes, Merkle nodes, trail index, deletes;
//   Sequence raw    one synced write batch of the same 4096 leaves, one put per event, to a
//                   second store opened the same way (no Merkle, index or staging work);
//   Trail/N         Log::Trail of one purchase (TrailQuery.authorization) with N events stored:
//                   its decision, approval and capture plus its mandate's issuance, the agent's
//                   creation and the session's opening and end; a different purchase each time;
//   Trail/N raw     one RocksDB iterator (KvStore::ScanRange) over as many consecutive stored
//                   events (e/ keys) of the same store as the trail returns;
//   Export/N        Log::Export of the whole log (complete prefix), information only;
//   VerifyBundle/N  audit::VerifyBundle of that export: checkpoint signature, every line parsed,
//                   the root recomputed;
//   VerifyBundle/N raw  signer::Sha256 of every event line of the same export;
//   Inclusion/N     Log::Inclusion of one event against the whole tree, from stored nodes;
//   Inclusion/N raw audit::VerifyInclusion of such a proof.
//
// Trail/N/ours also reports sequence_pass_seconds: Log::Sequence with nothing staged, timed
// alone right before each trail (outside its time), the pass every audit read runs first.
//
// The stored events are a realistic mix (bench/audit_mix.h, shared with bench/audit_fixture.cc):
// 100 principals, 400 agents active at any time, each agent living for 60 purchases with one
// mandate per 20 and one session per 5; a purchase is authorization.decided, then
// approval.approved for one in five, then authorization.captured (four in five) or .voided;
// every data member is about 500 bytes.
// One log grows from 10^4 to 10^6 events as the benchmarks run (each size is built once).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/bundle.h"
#include "audit/event.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "base/random.h"
#include "base/secret.h"
#include "bench/audit_mix.h"
#include "signer/hash.h"
#include "signer/key_store.h"
#include "store/rocks_store.h"

namespace mandated::audit {
namespace {

constexpr size_t kSequenceBatch = 4096;  // the sequencer's batch (audit/log.cc)

// A store, key store and log in a temporary directory, removed at exit.
class Env {
 public:
  explicit Env(const char* name) {
    std::string templ = (std::filesystem::temp_directory_path() / name).string() + ".XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      problem_ = "cannot create a temporary directory";
      return;
    }
    dir_ = templ;
    store::RocksStoreOptions so;
    so.path = dir_ + "/db";
    so.column_families = {signer::kKeysFamily, std::string(kAuditFamily)};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(so);
    if (!kv.ok()) {
      problem_ = kv.error().ToString();
      return;
    }
    kv_ = std::move(*kv);
    Result<std::unique_ptr<signer::KeyStore>> keys = signer::KeyStore::Open(
        *kv_, SecretBytes(ByteSpan(Bytes(32, 7))), SystemClock::Get(), SystemRandom::Get());
    if (!keys.ok()) {
      problem_ = keys.error().ToString();
      return;
    }
    keys_ = std::move(*keys);
    Result<std::unique_ptr<Log>> log =
        Log::Open(*kv_, *keys_, SystemClock::Get(), "bench.example/audit");
    if (!log.ok()) {
      problem_ = log.error().ToString();
      return;
    }
    log_ = std::move(*log);
  }
  ~Env() {
    log_.reset();
    keys_.reset();
    kv_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  const std::string& problem() const { return problem_; }
  store::KvStore& kv() { return *kv_; }
  Log& log() { return *log_; }

 private:
  std::string dir_, problem_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Log> log_;
};

using bench_mix::Filler;

// The log every Trail, Export and Inclusion benchmark reads; it only grows.
struct Shared {
  Env env{"audit_bench"};
  Filler filler;

  // Grows the log to `n` events (staging and sequencing in rounds, as the service does).
  Status GrowTo(uint64_t n) {
    const auto start = std::chrono::steady_clock::now();
    while (env.log().size() < n) {
      MD_RETURN_IF_ERROR(
          filler.StageUntil(env.kv(), std::min<uint64_t>(n, filler.staged() + 65536)));
      Result<uint64_t> s = env.log().Sequence();
      if (!s.ok()) return s.error();
    }
    build_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return OkStatus();
  }
  double build_seconds = 0;  // staging and sequencing the log so far
  // Probe purchases complete within the first `n` events.
  std::vector<std::string> ProbesWithin(uint64_t n) const {
    std::vector<std::string> out;
    for (const auto& p : filler.probes()) {
      if (p.last_seq <= n) out.push_back(p.authorization);
    }
    return out;
  }
};

Shared& TheLog() {
  static Shared s;  // destroyed at exit, which removes its directory
  return s;
}

bool Ready(benchmark::State& state, const Env& env) {
  if (!env.problem().empty()) {
    state.SkipWithError(env.problem().c_str());
    return false;
  }
  return true;
}

// ---- Sequencing.

void BM_Sequence_Ours(benchmark::State& state) {
  static Env env("audit_bench_seq");
  if (!Ready(state, env)) return;
  static Filler filler;
  for (auto _ : state) {
    state.PauseTiming();
    if (Status st = filler.StageUntil(env.kv(), filler.staged() + kSequenceBatch); !st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    state.ResumeTiming();
    Result<uint64_t> n = env.log().Sequence();
    if (!n.ok()) {
      state.SkipWithError(n.error().ToString().c_str());
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kSequenceBatch));
  state.counters["events_per_iteration"] = kSequenceBatch;
}

void BM_Sequence_Raw(benchmark::State& state) {
  static Env env("audit_bench_raw");
  if (!Ready(state, env)) return;
  // The same leaves: staged by the same filler in a scratch store, then read back as leaf bytes.
  static std::vector<std::string> leaves;
  if (leaves.empty()) {
    Env scratch("audit_bench_scratch");
    Filler f;
    Status st = f.StageUntil(scratch.kv(), 4 * kSequenceBatch);
    if (st.ok()) {
      st = scratch.kv().ScanPrefix(kAuditFamily, "q/", [](std::string_view, std::string_view v) {
        leaves.push_back(LeafBytes(leaves.size() + 1000000, v));
        return true;
      });
    }
    if (!st.ok() || leaves.empty()) {
      leaves.clear();
      state.SkipWithError(st.ok() ? "no staged leaves" : st.ToString().c_str());
      return;
    }
  }
  uint64_t seq = 0;
  for (auto _ : state) {
    store::WriteBatch batch;
    for (size_t i = 0; i < kSequenceBatch; ++i, ++seq) {
      char key[24];
      snprintf(key, sizeof(key), "e/%016" PRIx64, seq);
      batch.Put(kAuditFamily, key, leaves[seq % leaves.size()]);
    }
    Status s = env.kv().Write(batch, store::Durability::kSync);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kSequenceBatch));
  state.counters["events_per_iteration"] = kSequenceBatch;
}

// ---- Trail of one purchase.

void BM_Trail_Ours(benchmark::State& state) {
  Shared& s = TheLog();
  if (!Ready(state, s.env)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  if (Status g = s.GrowTo(n); !g.ok()) {
    state.SkipWithError(g.ToString().c_str());
    return;
  }
  const std::vector<std::string> probes = s.ProbesWithin(n);
  size_t i = 0, items = 0;
  double pass_seconds = 0;
  for (auto _ : state) {
    // The sequencing pass the trail runs first, timed alone just before it (not counted in the
    // trail's time twice: the trail runs its own).
    state.PauseTiming();
    const auto t0 = std::chrono::steady_clock::now();
    if (Result<uint64_t> none = s.env.log().Sequence(); !none.ok() || *none != 0) {
      state.SkipWithError("sequencing failed or found staged events");
      return;
    }
    pass_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.ResumeTiming();
    TrailQuery q;
    q.authorization = probes[(i++ * 7919) % probes.size()];
    Result<TrailPage> page = s.env.log().Trail(q, std::nullopt, 100);
    if (!page.ok()) {
      state.SkipWithError(page.error().ToString().c_str());
      return;
    }
    items += page->items.size();
  }
  state.counters["events_returned"] =
      benchmark::Counter(static_cast<double>(items), benchmark::Counter::kAvgIterations);
  state.counters["stored_events"] = static_cast<double>(s.env.log().size());
  state.counters["build_seconds"] = s.build_seconds;
  state.counters["sequence_pass_seconds"] =
      benchmark::Counter(pass_seconds, benchmark::Counter::kAvgIterations);
}

void BM_Trail_Raw(benchmark::State& state) {
  Shared& s = TheLog();
  if (!Ready(state, s.env)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  if (Status g = s.GrowTo(n); !g.ok()) {
    state.SkipWithError(g.ToString().c_str());
    return;
  }
  // As many events as a trail returns (measured on the first probe).
  TrailQuery q;
  q.authorization = s.ProbesWithin(n).front();
  const size_t want = s.env.log().Trail(q, std::nullopt, 100)->items.size();
  size_t i = 0, items = 0;
  for (auto _ : state) {
    const uint64_t start = (i++ * 7919) % (n - want);
    char from[24];
    snprintf(from, sizeof(from), "e/%016" PRIx64, start);
    size_t got = 0;
    std::vector<std::string> out;
    Status st = s.env.kv().ScanRange(kAuditFamily, from, "", [&](std::string_view, std::string_view v) {
      out.emplace_back(v);
      return ++got < want;
    });
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    items += out.size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["events_returned"] =
      benchmark::Counter(static_cast<double>(items), benchmark::Counter::kAvgIterations);
}

// ---- Export and offline verification.

// The export of the first `n` events, made once (by BM_Export when it ran for `n`).
struct ExportCache {
  uint64_t size = 0;
  std::string bundle;
};
ExportCache& TheExport() {
  static ExportCache* c = new ExportCache();
  return *c;
}

const std::string& ExportOf(uint64_t n) {
  uint64_t& size = TheExport().size;
  std::string& bundle = TheExport().bundle;
  if (size != n) {
    Shared& s = TheLog();
    if (!s.GrowTo(n).ok() || s.env.log().size() != n) {
      bundle.clear();
      return bundle;
    }
    Result<std::string> b = s.env.log().Export(TrailQuery{}, n);
    bundle = b.ok() ? std::move(*b) : std::string();
    size = n;
  }
  return bundle;
}

void BM_Export(benchmark::State& state) {
  Shared& s = TheLog();
  if (!Ready(state, s.env)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  if (Status g = s.GrowTo(n); !g.ok() || s.env.log().size() != n) {
    state.SkipWithError("the log did not reach the size asked");
    return;
  }
  size_t bytes = 0;
  for (auto _ : state) {
    Result<std::string> b = s.env.log().Export(TrailQuery{}, n);
    if (!b.ok()) {
      state.SkipWithError(b.error().ToString().c_str());
      return;
    }
    bytes = b->size();
    benchmark::DoNotOptimize(b);
    TheExport().size = n;  // VerifyBundle/n verifies this one
    TheExport().bundle = std::move(*b);
  }
  state.counters["bundle_bytes"] = static_cast<double>(bytes);
}

void BM_VerifyBundle_Ours(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  const std::string& bundle = ExportOf(n);
  if (bundle.empty()) {
    state.SkipWithError("export failed");
    return;
  }
  for (auto _ : state) {
    BundleReport r = VerifyBundle(bundle, BundleVerifyOptions{});
    if (!r.ok() || r.events != n) {
      state.SkipWithError(("the bundle does not verify: " +
                           (r.findings.empty() ? std::string("event count")
                                               : r.findings[0].code + " " + r.findings[0].detail))
                              .c_str());
      return;
    }
  }
  state.counters["events"] = static_cast<double>(n);
  state.counters["bundle_bytes"] = static_cast<double>(bundle.size());
}

void BM_VerifyBundle_Raw(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  const std::string& bundle = ExportOf(n);
  if (bundle.empty()) {
    state.SkipWithError("export failed");
    return;
  }
  std::vector<std::string_view> lines;  // the event lines (not the header)
  const std::string_view text(bundle);
  for (size_t start = text.find('\n') + 1; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  for (auto _ : state) {
    for (std::string_view line : lines) benchmark::DoNotOptimize(signer::Sha256(AsBytes(line)));
  }
  state.counters["events"] = static_cast<double>(lines.size());
}

// ---- Inclusion proofs from stored nodes.

void BM_Inclusion_Ours(benchmark::State& state) {
  Shared& s = TheLog();
  if (!Ready(state, s.env)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  if (Status g = s.GrowTo(n); !g.ok()) {
    state.SkipWithError(g.ToString().c_str());
    return;
  }
  const uint64_t size = s.env.log().size();
  uint64_t i = 0;
  size_t hashes = 0;
  for (auto _ : state) {
    Result<std::vector<Hash>> p = s.env.log().Inclusion((i++ * 7919 + 12345) % size, size);
    if (!p.ok()) {
      state.SkipWithError(p.error().ToString().c_str());
      return;
    }
    hashes += p->size();
  }
  state.counters["proof_hashes"] =
      benchmark::Counter(static_cast<double>(hashes), benchmark::Counter::kAvgIterations);
}

void BM_Inclusion_Raw(benchmark::State& state) {
  Shared& s = TheLog();
  if (!Ready(state, s.env)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  if (Status g = s.GrowTo(n); !g.ok()) {
    state.SkipWithError(g.ToString().c_str());
    return;
  }
  const uint64_t size = s.env.log().size();
  const uint64_t index = 12345 % size;
  const std::vector<Hash> proof = *s.env.log().Inclusion(index, size);
  const Hash root = *s.env.log().Root(size);
  const Hash leaf = LeafHash(AsBytes(s.env.log().Event(index)->bytes));
  if (!VerifyInclusion(leaf, index, size, proof, root).ok()) {
    state.SkipWithError("the proof does not verify");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(VerifyInclusion(leaf, index, size, proof, root));
  }
  state.counters["proof_hashes"] = static_cast<double>(proof.size());
}

// Registration order is run order: the shared log grows from 10^4 to 10^6 events. Slow
// benchmarks get a fixed number of iterations, so one disturbed iteration does not make the figure.
BENCHMARK(BM_Sequence_Ours)->Name("Audit/Sequence/ours")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sequence_Raw)->Name("Audit/Sequence/raw")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Trail_Ours)->Name("Audit/Trail/ours")->Arg(10000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Trail_Raw)->Name("Audit/Trail/raw")->Arg(10000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Trail_Ours)->Name("Audit/Trail/ours")->Arg(100000)->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(8);
BENCHMARK(BM_Trail_Raw)->Name("Audit/Trail/raw")->Arg(100000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Export)->Name("Audit/Export")->Arg(100000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyBundle_Ours)->Name("Audit/VerifyBundle/ours")->Arg(100000)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_VerifyBundle_Raw)->Name("Audit/VerifyBundle/raw")->Arg(100000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Trail_Ours)->Name("Audit/Trail/ours")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(8);
BENCHMARK(BM_Trail_Raw)->Name("Audit/Trail/raw")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Inclusion_Ours)->Name("Audit/Inclusion/ours")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(8);
BENCHMARK(BM_Inclusion_Raw)->Name("Audit/Inclusion/raw")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Export)->Name("Audit/Export")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_VerifyBundle_Ours)->Name("Audit/VerifyBundle/ours")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_VerifyBundle_Raw)->Name("Audit/VerifyBundle/raw")->Arg(1000000)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace mandated::audit

BENCHMARK_MAIN();
