// Facilitator (specs/x402.md §4): verify and settle exact EVM payments on the ledger.
#include "settlement/facilitator.h"

namespace mandated::settlement {

Facilitator::Facilitator(store::KvStore& kv, Ledger& ledger, UsageMeter& usage, Clock& clock)
    : kv_(kv), ledger_(ledger), usage_(usage), clock_(clock) {}

json::Value Facilitator::Supported() const { return json::Value::Object(); }

Result<VerifyResponse> Facilitator::Verify(const json::Value&) {
  return UnimplementedError("not built yet");
}
Result<SettleResponse> Facilitator::Settle(const json::Value&) {
  return UnimplementedError("not built yet");
}

}  // namespace mandated::settlement
