// The settlement file (specs/evm.md §6.1) and the evm backends and worker it starts.
#include "api/settlement_config.h"

#include <fstream>
#include <sstream>

#include "api/evm_transport_httplib.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/log.h"
#include "settlement/evm_rpc_chain.h"
#include "signer/ethereum.h"

namespace mandated::api {
namespace {

Status Bad(const std::string& where, const std::string& what) {
  return InvalidArgumentError(where + ": " + what, "bad-config");
}

Result<settlement::Address> AddressAt(const std::string& where, const json::Value* v) {
  if (v == nullptr || !v->is_string()) return Bad(where, "expected a 0x address");
  settlement::Address a{};
  Result<Bytes> b = signer::ParseAddress(v->as_string(), /*require_checksum=*/false);
  if (!b.ok() || b->size() != a.size()) return Bad(where, "expected a 0x address");
  std::copy(b->begin(), b->end(), a.begin());
  return a;
}

Result<int64_t> IntAt(const std::string& where, const json::Value& v, int64_t min, int64_t max) {
  std::optional<int64_t> n = v.as_int64();
  if (!n || *n < min || *n > max) {
    return Bad(where, "expected an integer between " + std::to_string(min) + " and " +
                          std::to_string(max));
  }
  return *n;
}

Result<NetworkSettlementConfig> ParseNetwork(const std::string& where, const std::string& network,
                                             const json::Value& v) {
  if (!v.is_object()) return Bad(where, "expected an object");
  NetworkSettlementConfig n;
  n.network = network;
  std::optional<uint64_t> chain = settlement::ChainIdOf(network);
  if (!chain) return Bad(where, "not an EVM network (eip155:<id> or an x402 v1 name)");
  n.chain_id = *chain;
  n.chain.chain_id = *chain;
  std::string backend = "ledger";
  if (const json::Value* b = v.Find("backend"); b != nullptr) {
    if (!b->is_string()) return Bad(where + "/backend", "expected \"ledger\" or \"evm\"");
    backend = b->as_string();
  }
  if (backend == "ledger") {
    if (v.size() > (v.Find("backend") != nullptr ? 1u : 0u)) {
      return Bad(where, "the ledger backend takes no other settings");
    }
    return n;
  }
  if (backend != "evm") return Bad(where + "/backend", "expected \"ledger\" or \"evm\"");
  n.evm = true;
  bool has_deferred = false;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& key = v.keys()[i];
    const json::Value& m = v.items()[i];
    const std::string at = where + "/" + key;
    if (key == "backend") {
      continue;
    } else if (key == "rpc_url") {
      if (!m.is_string() || (m.as_string().rfind("http://", 0) != 0 &&
                             m.as_string().rfind("https://", 0) != 0)) {
        return Bad(at, "expected an http:// or https:// URL");
      }
      n.chain.rpc_url = m.as_string();
    } else if (key == "tokens") {
      if (!m.is_array() || m.size() == 0) return Bad(at, "expected a non-empty array of addresses");
      for (size_t t = 0; t < m.size(); ++t) {
        MD_ASSIGN_OR_RETURN(settlement::Address a,
                            AddressAt(at + "/" + std::to_string(t), &m.items()[t]));
        n.chain.tokens.push_back(a);
      }
    } else if (key == "confirmations") {
      MD_ASSIGN_OR_RETURN(int64_t c, IntAt(at, m, 1, 1000));
      n.chain.confirmations = static_cast<uint32_t>(c);
    } else if (key == "facilitator_key") {
      if (!m.is_string()) return Bad(at, "expected a key id");
      n.chain.facilitator_key = m.as_string();
    } else if (key == "batch_settler") {
      MD_ASSIGN_OR_RETURN(settlement::Address a, AddressAt(at, &m));
      n.chain.batch_settler = a;
    } else if (key == "deferred_below") {
      if (!m.is_string()) return Bad(at, "expected a decimal string of base units");
      Result<Amount> a = Amount::Parse(m.as_string());
      if (!a.ok() || a->is_zero()) return Bad(at, "expected a positive decimal string of base units");
      n.options.deferred_below = *a;
      has_deferred = true;
    } else if (key == "batch_max") {
      // EvmRpcChain takes at most 200 transfers per submission (specs/evm.md §5).
      MD_ASSIGN_OR_RETURN(int64_t c, IntAt(at, m, 1, 200));
      n.options.batch_max = static_cast<size_t>(c);
    } else if (key == "settle_wait_ms") {
      MD_ASSIGN_OR_RETURN(n.options.settle_wait_ms, IntAt(at, m, 0, 600000));
    } else if (key == "rpc_timeout_ms") {
      MD_ASSIGN_OR_RETURN(n.chain.rpc_timeout_ms, IntAt(at, m, 100, 120000));
    } else if (key == "rpc_retries") {
      MD_ASSIGN_OR_RETURN(int64_t c, IntAt(at, m, 0, 20));
      n.chain.rpc_retries = static_cast<int>(c);
    } else if (key == "replace_after_s") {
      MD_ASSIGN_OR_RETURN(n.chain.replace_after_s, IntAt(at, m, 1, 86400));
    } else {
      return Bad(at, "unknown setting");
    }
  }
  if (n.chain.rpc_url.empty()) return Bad(where + "/rpc_url", "required for the evm backend");
  if (n.chain.tokens.empty()) return Bad(where + "/tokens", "required for the evm backend");
  if (has_deferred && !n.chain.batch_settler) {
    return Bad(where + "/deferred_below", "deferred settlement needs batch_settler");
  }
  return n;
}

}  // namespace

Result<SettlementConfig> ParseSettlementConfig(const std::string& path, const std::string& text) {
  Result<json::Value> doc = json::Parse(text);
  if (!doc.ok()) return Bad(path, doc.error().message());
  if (!doc->is_object()) return Bad(path, "expected a JSON object");
  SettlementConfig out;
  for (size_t i = 0; i < doc->size(); ++i) {
    const std::string& key = doc->keys()[i];
    const json::Value& v = doc->items()[i];
    if (key == "networks") {
      if (!v.is_object()) return Bad(path + ": /networks", "expected an object");
      for (size_t n = 0; n < v.size(); ++n) {
        MD_ASSIGN_OR_RETURN(NetworkSettlementConfig net,
                            ParseNetwork(path + ": /networks/" + v.keys()[n], v.keys()[n],
                                         v.items()[n]));
        for (const NetworkSettlementConfig& other : out.networks) {
          if (other.chain_id == net.chain_id) {
            return Bad(path + ": /networks/" + v.keys()[n],
                       "chain " + std::to_string(net.chain_id) + " is configured twice");
          }
        }
        out.networks.push_back(std::move(net));
      }
    } else if (key == "track_interval_ms") {
      MD_ASSIGN_OR_RETURN(out.track_interval_ms, IntAt(path + ": /" + key, v, 10, 600000));
    } else if (key == "flush_interval_s") {
      MD_ASSIGN_OR_RETURN(out.flush_interval_s, IntAt(path + ": /" + key, v, 0, 86400));
    } else {
      return Bad(path + ": /" + key, "unknown setting");
    }
  }
  return out;
}

Result<SettlementConfig> LoadSettlementConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(path, "cannot read the settlement configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSettlementConfig(path, ss.str());
}

SettlementRuntime::~SettlementRuntime() {
  if (worker_) worker_->Stop();  // before the chains it uses go
}

Result<std::unique_ptr<SettlementRuntime>> SettlementRuntime::Start(
    const SettlementConfig& config, store::KvStore& kv, signer::KeyStore& keys, Clock& clock,
    settlement::Facilitator& facilitator) {
  std::unique_ptr<SettlementRuntime> rt(new SettlementRuntime());
  for (const NetworkSettlementConfig& n : config.networks) {
    if (!n.evm) continue;
    settlement::EvmChainConfig cc = n.chain;
    if (cc.facilitator_key.empty()) {
      // The service's own gas-paying key, made on first use (specs/evm.md §6.1).
      Result<signer::KeyInfo> k = keys.ActiveKey("service", signer::kFacilitatorKeyPurpose);
      if (!k.ok() && k.error().code() == StatusCode::kNotFound) {
        k = keys.Generate(signer::KeyType::kSecp256k1, signer::kFacilitatorKeyPurpose, "service");
      }
      if (!k.ok()) return k.error();
      cc.facilitator_key = k->id;
    }
    Result<std::unique_ptr<settlement::EvmRpcChain>> chain = settlement::EvmRpcChain::Create(
        cc, MakeHttpJsonRpcTransport(cc.rpc_url, cc.rpc_timeout_ms), kv, keys, clock);
    if (!chain.ok()) {
      return Status(chain.error().code(),
                    "settlement backend of " + n.network + " (" + RedactedUrl(cc.rpc_url) + "): " +
                        chain.error().message(),
                    std::string(chain.error().reason()));
    }
    std::optional<settlement::Address> from = (*chain)->facilitator_address();
    log::Info("evm settlement backend", {{"network", n.network},
                                         {"chain_id", static_cast<int64_t>(n.chain_id)},
                                         {"rpc_url", RedactedUrl(cc.rpc_url)},
                                         {"facilitator_key", cc.facilitator_key},
                                         {"facilitator", from ? settlement::AddressText(*from)
                                                              : std::string()}});
    settlement::EvmSettlementOptions options = n.options;
    options.defer_min_validity_s = config.flush_interval_s + 60;  // specs/evm.md §6.3
    facilitator.AddEvmBackend(**chain, options);
    rt->chains_.push_back(std::move(*chain));
  }
  if (!rt->chains_.empty()) {
    rt->worker_ = std::make_unique<settlement::SettlementWorker>(
        facilitator, config.track_interval_ms, config.flush_interval_s);
  }
  return rt;
}

}  // namespace mandated::api
