// Settlement backends per network (specs/evm.md §6): the JSON file named by --settlement-config,
// parsed and checked, and the running backends it describes (the evm chains and the background
// worker that tracks submissions and flushes deferred payments).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.h"
#include "base/clock.h"
#include "base/result.h"
#include "settlement/deferred.h"
#include "settlement/evm_chain.h"
#include "settlement/facilitator.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::api {

// One network's backend as configured.
struct NetworkSettlementConfig {
  std::string network;     // as written in the file ("eip155:84532" or a v1 name)
  uint64_t chain_id = 0;
  bool evm = false;        // false: the ledger backend
  settlement::EvmChainConfig chain;   // when evm
  settlement::EvmSettlementOptions options;  // when evm
};

struct SettlementConfig {
  std::vector<NetworkSettlementConfig> networks;
  int64_t track_interval_ms = 1000;  // how often the worker polls pending submissions
  int64_t flush_interval_s = 30;     // how often deferred payments are flushed (0: on demand)
};

// Parses the settlement file (specs/evm.md §6.1). Errors: kInvalidArgument "bad-config" naming
// the file and the JSON pointer at fault.
Result<SettlementConfig> ParseSettlementConfig(const std::string& path, const std::string& text);
Result<SettlementConfig> LoadSettlementConfig(const std::string& path);

// The running backends. Thread safety: built and destroyed by App; the worker runs on its own
// thread, stopped by the destructor.
class SettlementRuntime {
 public:
  ~SettlementRuntime();
  settlement::SettlementWorker* worker() { return worker_.get(); }

  // Builds an evm backend for every evm network of `config` (checking the node's chain id and
  // the facilitator key: a missing one is generated, owner "service", purpose
  // "x402-facilitator") and installs them in `facilitator`. The worker (none without an evm
  // network) is started by the caller; its first round resumes what an earlier run left.
  static Result<std::unique_ptr<SettlementRuntime>> Start(const SettlementConfig& config,
                                                          store::KvStore& kv,
                                                          signer::KeyStore& keys, Clock& clock,
                                                          settlement::Facilitator& facilitator);

 private:
  SettlementRuntime() = default;
  std::vector<std::unique_ptr<settlement::EvmChain>> chains_;
  std::unique_ptr<settlement::SettlementWorker> worker_;
};

}  // namespace mandated::api
