// PLACEHOLDER: the ledger work replaces this file (see ledger.h).
#include "settlement/ledger.h"

namespace mandated::settlement {

struct Ledger::AccountState {};

Ledger::Ledger(store::KvStore& kv, Clock& clock, Random& random)
    : kv_(kv), clock_(clock), random_(random) {}

Ledger::~Ledger() = default;

Result<std::vector<Transfer>> Ledger::Apply(std::vector<Transfer>, store::WriteBatch) {
  return UnimplementedError("ledger not built yet");
}
Result<Balance> Ledger::GetBalance(std::string_view, std::string_view) {
  return UnimplementedError("ledger not built yet");
}

}  // namespace mandated::settlement
