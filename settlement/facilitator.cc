// Facilitator (specs/x402.md §5): verifies exact EVM payments and settles them on the ledger,
// once per nonce key, with the settlement record, its audit event and its metering in one batch.
#include "settlement/facilitator.h"

#include <functional>

#include "audit/event.h"
#include "base/bytes.h"
#include "signer/keccak.h"

namespace mandated::settlement {
namespace {

constexpr char kSettlementPrefix[] = "s/";
constexpr char kBindingPrefix[] = "bind/";
constexpr char kPendingCapturePrefix[] = "capture/";

// The chains whose exact scheme this facilitator serves: every EVM network x402 v1 names
// (specs/x402.md §2.4); v2 accepts the same chains as "eip155:<id>".
const std::vector<uint64_t>& SupportedChains() {
  static const auto* const kChains = new std::vector<uint64_t>{
      84532, 8453, 43113, 43114, 137, 80002, 4689, 1329, 1328, 3338, 1514, 41923, 2741, 11124};
  return *kChains;
}

bool ChainSupported(uint64_t chain) {
  for (uint64_t c : SupportedChains()) {
    if (c == chain) return true;
  }
  return false;
}

std::string NonceKey(uint64_t chain, const PaymentPayload& p, const PaymentRequirements& r) {
  return std::to_string(chain) + "/" + AddressLower(r.asset) + "/" +
         AddressLower(p.authorization.from) + "/" + NonceText(p.authorization.nonce);
}

// The ledger names of the payment's parties and asset (specs/x402.md §5.3).
std::string HolderAccount(uint64_t chain, const Address& a) {
  return "eip155:" + std::to_string(chain) + ":" + AddressLower(a);
}
std::string AssetId(uint64_t chain, const Address& token) {
  return "eip155:" + std::to_string(chain) + "/erc20:" + AddressLower(token);
}

// The settlement's transaction reference: keccak256("mandated/x402/settlement/" + nonce key), so
// a retry names the same transfer.
std::string TransactionHash(const std::string& key) {
  const std::string seed = "mandated/x402/settlement/" + key;
  const Bytes h = signer::Keccak256(ByteSpan(reinterpret_cast<const uint8_t*>(seed.data()),
                                             seed.size()));
  return "0x" + HexEncode(h);
}

json::Value SettlementToJson(const Settlement& s) {
  json::Value v = json::Value::Object();
  v.Set("key", json::Value::String(s.key));
  v.Set("signature", json::Value::String(s.signature));
  v.Set("response", SettleResponseToJson(s.response));
  v.Set("transfer_id", json::Value::String(s.transfer_id));
  if (!s.authorization_id.empty()) {
    v.Set("authorization_id", json::Value::String(s.authorization_id));
    v.Set("principal", json::Value::String(s.principal));
  }
  if (!s.amount.empty()) v.Set("amount", json::Value::String(s.amount));
  v.Set("at", json::Value::Int(s.at));
  return v;
}

std::string StringOf(const json::Value& v, std::string_view key) {
  const json::Value* m = v.Find(key);
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

Result<Settlement> SettlementFromJson(const json::Value& v) {
  if (!v.is_object()) return DataLossError("settlement record is not an object", "storage-corruption");
  Settlement s;
  s.key = StringOf(v, "key");
  s.signature = StringOf(v, "signature");
  s.transfer_id = StringOf(v, "transfer_id");
  s.authorization_id = StringOf(v, "authorization_id");
  s.principal = StringOf(v, "principal");
  s.amount = StringOf(v, "amount");
  if (const json::Value* at = v.Find("at"); at != nullptr && at->as_int64()) s.at = *at->as_int64();
  const json::Value* r = v.Find("response");
  if (r == nullptr || !r->is_object()) {
    return DataLossError("settlement record has no response", "storage-corruption");
  }
  if (const json::Value* ok = r->Find("success"); ok != nullptr && ok->is_bool()) {
    s.response.success = ok->as_bool();
  }
  s.response.error_reason = StringOf(*r, "errorReason");
  s.response.error_message = StringOf(*r, "errorMessage");
  s.response.payer = StringOf(*r, "payer");
  s.response.transaction = StringOf(*r, "transaction");
  s.response.network = StringOf(*r, "network");
  return s;
}

Binding BindingOf(const json::Value& v) {
  Binding b;
  b.principal = StringOf(v, "principal");
  b.authorization_id = StringOf(v, "authorization");
  b.agent_id = StringOf(v, "agent");
  b.mandate_id = StringOf(v, "mandate");
  b.payer = StringOf(v, "payer");
  return b;
}

}  // namespace

Facilitator::Facilitator(store::KvStore& kv, Ledger& ledger, UsageMeter& usage, Clock& clock)
    : kv_(kv), ledger_(ledger), usage_(usage), clock_(clock) {}

json::Value Facilitator::Supported() const {
  json::Value kinds = json::Value::Array();
  for (uint64_t chain : SupportedChains()) {
    json::Value k = json::Value::Object();
    k.Set("x402Version", json::Value::Int(kX402V2));
    k.Set("scheme", json::Value::String("exact"));
    k.Set("network", json::Value::String("eip155:" + std::to_string(chain)));
    kinds.Append(std::move(k));
  }
  for (uint64_t chain : SupportedChains()) {
    const std::string_view name = V1NetworkName(chain);
    if (name.empty()) continue;
    json::Value k = json::Value::Object();
    k.Set("x402Version", json::Value::Int(kX402V1));
    k.Set("scheme", json::Value::String("exact"));
    k.Set("network", json::Value::String(std::string(name)));
    kinds.Append(std::move(k));
  }
  json::Value v = json::Value::Object();
  v.Set("kinds", std::move(kinds));
  v.Set("extensions", json::Value::Array());
  // Settlement is on the ledger: no on-chain signer pays gas for it.
  json::Value signers = json::Value::Object();
  signers.Set("eip155:*", json::Value::Array());
  v.Set("signers", std::move(signers));
  return v;
}

Result<Facilitator::Parsed> Facilitator::Parse(const json::Value& body) {
  if (!body.is_object()) {
    return InvalidArgumentError("the body must be a JSON object", "x402-request-invalid");
  }
  const json::Value* payload = body.Find("paymentPayload");
  const json::Value* requirements = body.Find("paymentRequirements");
  if (payload == nullptr || requirements == nullptr || !payload->is_object() ||
      !requirements->is_object()) {
    return InvalidArgumentError("Missing paymentPayload or paymentRequirements",
                                "x402-request-invalid");
  }
  Parsed out;
  Result<PaymentPayload> p = ParsePayload(*payload);
  if (!p.ok()) {
    out.early.is_valid = false;
    out.early.invalid_reason = p.error().reason().empty() ? "invalid_payload" : p.error().reason();
    out.early.invalid_message = p.error().message();
    return out;
  }
  out.payload = std::move(*p);
  out.early.payer = AddressText(out.payload.authorization.from);
  if (const json::Value* version = body.Find("x402Version");
      version == nullptr || version->as_int64() != std::optional<int64_t>(out.payload.version)) {
    out.early.invalid_reason = "invalid_x402_version";
    out.early.invalid_message = "x402Version must equal the payload's x402Version";
    return out;
  }
  Result<PaymentRequirements> r = ParseRequirements(*requirements, out.payload.version,
                                                    "/paymentRequirements");
  if (!r.ok()) {
    out.early.invalid_reason = "invalid_payment_requirements";
    out.early.invalid_message = r.error().message();
    return out;
  }
  out.requirements = std::move(*r);
  if (out.requirements.scheme != "exact") {
    out.early.invalid_reason = "unsupported_scheme";
    out.early.invalid_message = "only the exact scheme is supported";
    return out;
  }
  if (out.requirements.chain_id == 0 || !ChainSupported(out.requirements.chain_id)) {
    out.early.invalid_reason = "invalid_network";
    out.early.invalid_message = "network " + out.requirements.network + " is not supported";
    return out;
  }
  out.parsed = true;
  return out;
}

VerifyResponse Facilitator::Check(const Parsed& in, int64_t now, bool check_nonce) {
  VerifyResponse v = VerifyExactOffline(in.payload, in.requirements, now);
  if (!v.is_valid) return v;
  const uint64_t chain = in.requirements.chain_id;
  Result<std::optional<Settlement>> used =
      check_nonce ? Find(NonceKey(chain, in.payload, in.requirements))
                  : Result<std::optional<Settlement>>(std::optional<Settlement>());
  if (!used.ok() || used->has_value()) {
    v.is_valid = false;
    v.invalid_reason = "invalid_exact_evm_nonce_already_used";
    v.invalid_message = used.ok() ? "FiatTokenV2: authorization is used or canceled"
                                  : used.error().message();
    return v;
  }
  Result<Balance> balance = ledger_.GetBalance(HolderAccount(chain, in.payload.authorization.from),
                                               AssetId(chain, in.requirements.asset));
  if (!balance.ok() || balance->negative || balance->magnitude < in.payload.authorization.value) {
    v.is_valid = false;
    v.invalid_reason = "invalid_exact_evm_insufficient_balance";
    v.invalid_message = balance.ok() ? "the payer's balance is " + balance->Text()
                                     : balance.error().message();
  }
  return v;
}

Result<VerifyResponse> Facilitator::Verify(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(Parsed in, Parse(body));
  if (!in.parsed) return in.early;
  return Check(in, clock_.NowUnixSeconds());
}

Result<std::optional<Settlement>> Facilitator::Find(const std::string& key) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, kv_.Get(kX402Family, kSettlementPrefix + key));
  if (!raw) return std::optional<Settlement>();
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  MD_ASSIGN_OR_RETURN(Settlement s, SettlementFromJson(v));
  return std::optional<Settlement>(std::move(s));
}

Result<std::optional<Binding>> Facilitator::FindBinding(const Nonce32& nonce) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw,
                      kv_.Get(kX402Family, kBindingPrefix + NonceText(nonce)));
  if (!raw) return std::optional<Binding>();
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  return std::optional<Binding>(BindingOf(v));
}

Status Facilitator::Bind(const Nonce32& nonce, const Binding& b) {
  json::Value v = json::Value::Object();
  v.Set("principal", json::Value::String(b.principal));
  v.Set("authorization", json::Value::String(b.authorization_id));
  v.Set("agent", json::Value::String(b.agent_id));
  v.Set("mandate", json::Value::String(b.mandate_id));
  v.Set("payer", json::Value::String(b.payer));
  store::WriteBatch batch;
  batch.Put(kX402Family, kBindingPrefix + NonceText(nonce), json::Write(v));
  return kv_.Write(batch);
}

Result<SettleResponse> Facilitator::Settle(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(Parsed in, Parse(body));
  SettleResponse out;
  out.network = in.parsed ? in.requirements.network : in.payload.network;
  out.payer = in.early.payer;
  if (!in.parsed) {
    out.error_reason = in.early.invalid_reason;
    out.error_message = in.early.invalid_message;
    return out;
  }
  const uint64_t chain = in.requirements.chain_id;
  const std::string key = NonceKey(chain, in.payload, in.requirements);
  const std::string signature = "0x" + HexEncode(in.payload.signature);

  // One settlement per nonce key at a time: the check of the record and its write are one step.
  std::mutex& stripe = stripes_[std::hash<std::string>()(key) % stripes_.size()];
  std::lock_guard<std::mutex> lock(stripe);
  MD_ASSIGN_OR_RETURN(std::optional<Settlement> prior, Find(key));
  if (prior) {
    if (prior->signature == signature) return prior->response;  // a retry: the first answer
    out.error_reason = "invalid_exact_evm_nonce_already_used";
    out.error_message = "FiatTokenV2: authorization is used or canceled";
    return out;
  }
  const int64_t now = clock_.NowUnixSeconds();
  const VerifyResponse verdict = Check(in, now, /*check_nonce=*/false);  // `prior` said unused
  if (!verdict.is_valid) {
    out.error_reason = verdict.invalid_reason;
    out.error_message = verdict.invalid_message;
    return out;
  }

  MD_ASSIGN_OR_RETURN(std::optional<Binding> binding, FindBinding(in.payload.authorization.nonce));
  if (binding && binding->payer != AddressLower(in.payload.authorization.from)) {
    binding.reset();  // another payer reusing our nonce value: nothing of ours to capture
  }
  const std::string tx = TransactionHash(key);
  Transfer t;
  t.id = "xfr_" + tx.substr(2, 32);
  t.debit = HolderAccount(chain, in.payload.authorization.from);
  t.credit = HolderAccount(chain, in.payload.authorization.to);
  t.asset = AssetId(chain, in.requirements.asset);
  t.amount = in.payload.authorization.value;
  t.kind = "payment";
  t.reference = "x402:" + key;
  t.principal = binding ? binding->principal : std::string();
  t.at = now;

  Settlement s;
  s.key = key;
  s.signature = signature;
  s.response.success = true;
  s.response.payer = verdict.payer;
  s.response.transaction = tx;
  s.response.network = in.requirements.network;
  s.transfer_id = t.id;
  s.amount = t.amount.ToString();
  s.at = now;
  if (binding) {
    s.authorization_id = binding->authorization_id;
    s.principal = binding->principal;
  }
  const std::string record = json::Write(SettlementToJson(s));

  store::WriteBatch batch;
  batch.Put(kX402Family, kSettlementPrefix + key, record);
  audit::Event e;
  e.type = "payment.settled";
  e.principal = s.principal;
  e.Subject("payment", key);
  if (binding) {
    e.Subject("authorization", binding->authorization_id);
    e.Subject("agent", binding->agent_id);
    e.Subject("mandate", binding->mandate_id);
    batch.Put(kX402Family, kPendingCapturePrefix + key, record);
  }
  e.data_json = record;
  e.at_micros = clock_.NowUnixMicros();
  audit::Stage(batch, e);
  std::optional<UsageEvent> metered;
  if (binding) {
    UsageEvent u;
    u.id = "x402:" + NonceText(in.payload.authorization.nonce);
    u.principal = binding->principal;
    u.agent = binding->agent_id;
    u.mandate = binding->mandate_id;
    u.payee = AddressLower(in.payload.authorization.to);
    u.asset = t.asset;
    u.amount = t.amount;
    u.resource = in.payload.resource.is_object() ? StringOf(in.payload.resource, "url")
                                                 : in.requirements.resource;
    u.at = now;
    u.source = "payment";
    usage_.StagePayment(batch, u);
    metered = std::move(u);
  }
  Result<std::vector<Transfer>> applied = ledger_.Apply({t}, std::move(batch));
  if (!applied.ok()) {
    if (applied.error().reason() == "insufficient-funds") {
      out.error_reason = "invalid_exact_evm_insufficient_balance";
      out.error_message = applied.error().message();
      return out;
    }
    return applied.error();
  }
  if (metered) usage_.CommittedPayment(*metered);
  if (binding) CaptureBound(s);
  return s.response;
}

void Facilitator::CaptureBound(const Settlement& s) {
  if (!capture_ || s.authorization_id.empty()) return;
  Result<Amount> amount = Amount::Parse(s.amount);
  if (!amount.ok()) return;
  if (!capture_(s.principal, s.authorization_id, *amount).ok()) return;  // retried later
  store::WriteBatch done;
  done.Delete(kX402Family, kPendingCapturePrefix + s.key);
  kv_.Write(done).IgnoreError();  // a leftover marker only repeats an idempotent capture
}

Result<size_t> Facilitator::RetryCaptures() {
  std::vector<Settlement> pending;
  Status scanned = kv_.ScanPrefix(kX402Family, kPendingCapturePrefix,
                                  [&](std::string_view, std::string_view value) {
                                    Result<json::Value> v = json::Parse(value);
                                    if (v.ok()) {
                                      Result<Settlement> s = SettlementFromJson(*v);
                                      if (s.ok()) pending.push_back(std::move(*s));
                                    }
                                    return true;
                                  });
  MD_RETURN_IF_ERROR(scanned);
  for (const Settlement& s : pending) CaptureBound(s);
  return pending.size();
}

}  // namespace mandated::settlement
