// PLACEHOLDER: the usage work replaces this file (see usage.h).
#include "settlement/usage.h"

namespace mandated::settlement {
namespace {
class NullMeter final : public UsageMeter {
 public:
  void StagePayment(store::WriteBatch&, const UsageEvent&) override {}
  void CommittedPayment(const UsageEvent&) override {}
};
}  // namespace

Result<std::unique_ptr<UsageMeter>> UsageMeter::Open(store::KvStore&, Clock&) {
  return std::unique_ptr<UsageMeter>(new NullMeter());
}

}  // namespace mandated::settlement
