// Facilitator (specs/x402.md §5, specs/evm.md §6): verifies exact EVM payments and settles them
// on the ledger or on chain, once per nonce key, with the settlement record, its audit event and
// its metering in one batch.
#include "settlement/facilitator.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <set>
#include <string_view>
#include <chrono>
#include <functional>
#include <thread>

#include "audit/event.h"
#include "base/bytes.h"
#include "base/log.h"
#include "signer/keccak.h"

namespace mandated::settlement {
namespace {

constexpr char kSettlementPrefix[] = "s/";
constexpr char kBindingPrefix[] = "bind/";
constexpr char kPendingCapturePrefix[] = "capture/";
constexpr char kPendingVoidPrefix[] = "void/";
constexpr char kSubmissionPrefix[] = "sub/";

// What a merchant is told of an error behind a verify: storage messages name files of the data
// directory, so they are logged and replaced; the rest (node errors, already redacted to the
// node's scheme, host and port) are shown as they are.
std::string ShownToMerchant(const Status& s) {
  if (!s.reason().starts_with("storage-")) return s.message();
  log::Error("x402 verify could not read its storage", {{"error", s.ToString()}});
  return "the facilitator's storage could not be read; ask again";
}

// Whether `text` holds each of `words` (lower case), in that order.
bool HasInOrder(std::string_view text, std::initializer_list<std::string_view> words) {
  size_t at = 0;
  for (std::string_view w : words) {
    at = text.find(w, at);
    if (at == std::string_view::npos) return false;
    at += w.size();
  }
  return true;
}

}  // namespace

std::string_view SettleCodeOfRevert(std::string_view message) {
  std::string t(message);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (HasInOrder(t, {"authorization", "expired"}) ||
      HasInOrder(t, {"authorization", "valid before"}) || HasInOrder(t, {"authorizationexpired"})) {
    return kReasonValidBefore;
  }
  if (HasInOrder(t, {"authorization", "not", "valid"}) ||
      HasInOrder(t, {"authorizationnotyetvalid"})) {
    return kReasonValidAfter;
  }
  if (HasInOrder(t, {"authorization", "used"}) || HasInOrder(t, {"authorizationalreadyused"})) {
    return "invalid_exact_evm_nonce_already_used";
  }
  if (HasInOrder(t, {"transfer", "exceeds", "balance"}) ||
      HasInOrder(t, {"insufficient", "balance"}) || HasInOrder(t, {"erc20insufficientbalance"})) {
    return "invalid_exact_evm_insufficient_balance";
  }
  if (HasInOrder(t, {"invalid", "signature"}) || HasInOrder(t, {"signermismatch"}) ||
      HasInOrder(t, {"invalidsignaturev"}) || HasInOrder(t, {"invalidsignatures"})) {
    return kReasonInvalidSignature;
  }
  return "invalid_exact_evm_transaction_failed";
}

namespace {

// Codes of the evm backend (specs/evm.md §6.2).
constexpr char kReasonNonceUsed[] = "invalid_exact_evm_nonce_already_used";
constexpr char kReasonInsufficient[] = "invalid_exact_evm_insufficient_balance";
// The message of a ledger payer short of the value: the balance itself is the principal's to read.
constexpr std::string_view kLedgerBalanceTooLow =
    "the payer's ledger balance is less than the payment's value";
constexpr char kReasonTokenNotAccepted[] = "invalid_exact_evm_token_not_accepted";
constexpr char kReasonNameMismatch[] = "invalid_exact_evm_token_name_mismatch";
constexpr char kReasonVersionMismatch[] = "invalid_exact_evm_token_version_mismatch";
constexpr char kReasonChainUnavailable[] = "unexpected_verify_error";  // the node or the store
constexpr char kReasonFailedOnChain[] = "invalid_exact_evm_transaction_failed";
constexpr char kReasonPending[] = "settlement_pending";

// The chains whose exact scheme this facilitator serves on the ledger: every EVM network x402 v1
// names (specs/x402.md §2.4); v2 accepts the same chains as "eip155:<id>". A network configured
// with the evm backend is served as well (Facilitator::Serves).
const std::vector<uint64_t>& SupportedChains() {
  static const auto* const kChains = new std::vector<uint64_t>{
      84532, 8453, 43113, 43114, 137, 80002, 4689, 1329, 1328, 3338, 1514, 41923, 2741, 11124,
      324705682};
  return *kChains;
}

bool ChainSupported(uint64_t chain) {
  for (uint64_t c : SupportedChains()) {
    if (c == chain) return true;
  }
  return false;
}

std::string NonceKey(uint64_t chain, const PaymentPayload& p, const PaymentRequirements& r) {
  return SettlementKey(chain, r.asset, p.authorization.from, p.authorization.nonce);
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
  }
  if (!s.principal.empty()) v.Set("principal", json::Value::String(s.principal));
  if (!s.ap2_payment.empty()) {
    v.Set("ap2_payment", json::Value::String(s.ap2_payment));
    if (s.mode.empty()) {  // the evm records below carry these for every binding
      v.Set("agent", json::Value::String(s.agent_id));
      v.Set("mandate", json::Value::String(s.mandate_id));
    }
  }
  if (!s.amount.empty()) v.Set("amount", json::Value::String(s.amount));
  v.Set("at", json::Value::Int(s.at));
  if (!s.mode.empty()) {
    v.Set("state", json::Value::String(s.state));
    v.Set("mode", json::Value::String(s.mode));
    v.Set("chain", json::Value::Uint(s.chain));
    if (!s.submission.empty()) v.Set("submission", json::Value::String(s.submission));
    if (!s.tx_hash.empty()) v.Set("tx_hash", json::Value::String(s.tx_hash));
    if (!s.agent_id.empty()) v.Set("agent", json::Value::String(s.agent_id));
    if (!s.mandate_id.empty()) v.Set("mandate", json::Value::String(s.mandate_id));
    v.Set("payload", s.payload);
    v.Set("requirements", s.requirements);
  }
  if (!s.usage.is_null()) v.Set("usage", s.usage);
  return v;
}

// The usage event of a settled payment, as its audit record carries it (specs/usage.md §5).
json::Value MeteredToJson(const UsageEvent& u) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(u.id));
  v.Set("agent", json::Value::String(u.agent));
  v.Set("mandate", json::Value::String(u.mandate));
  v.Set("payee", json::Value::String(u.payee));
  v.Set("asset", json::Value::String(u.asset));
  v.Set("amount", json::Value::String(u.amount.ToString()));
  v.Set("resource", json::Value::String(u.resource));
  v.Set("at", json::Value::Int(u.at));
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
  s.state = StringOf(v, "state");
  s.mode = StringOf(v, "mode");
  s.submission = StringOf(v, "submission");
  s.tx_hash = StringOf(v, "tx_hash");
  s.agent_id = StringOf(v, "agent");
  s.mandate_id = StringOf(v, "mandate");
  s.ap2_payment = StringOf(v, "ap2_payment");
  if (const json::Value* c = v.Find("chain"); c != nullptr && c->as_uint64()) s.chain = *c->as_uint64();
  if (const json::Value* p = v.Find("payload"); p != nullptr) s.payload = *p;
  if (const json::Value* q = v.Find("requirements"); q != nullptr) s.requirements = *q;
  if (const json::Value* u = v.Find("usage"); u != nullptr) s.usage = *u;
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

}  // namespace

std::string SettlementKey(uint64_t chain, const Address& token, const Address& payer,
                          const Nonce32& nonce) {
  return std::to_string(chain) + "/" + AddressLower(token) + "/" + AddressLower(payer) + "/" +
         NonceText(nonce);
}

namespace {

Binding BindingOf(const json::Value& v) {
  Binding b;
  b.principal = StringOf(v, "principal");
  b.authorization_id = StringOf(v, "authorization");
  b.agent_id = StringOf(v, "agent");
  b.mandate_id = StringOf(v, "mandate");
  b.payer = StringOf(v, "payer");
  b.ap2_payment = StringOf(v, "ap2_payment");
  b.digest = StringOf(v, "digest");
  b.settlement_key = StringOf(v, "key");
  if (const json::Value* vb = v.Find("valid_before"); vb != nullptr && vb->as_int64()) {
    b.valid_before = *vb->as_int64();
  }
  return b;
}

// The signed transfer a recorded evm settlement stands for.
Result<SignedTransfer> TransferOf(const Settlement& s) {
  MD_ASSIGN_OR_RETURN(PaymentPayload p, ParsePayload(s.payload));
  MD_ASSIGN_OR_RETURN(PaymentRequirements r, ParseRequirements(s.requirements, p.version, ""));
  SignedTransfer t;
  t.token = r.asset;
  t.authorization = p.authorization;
  t.signature = p.signature;
  return t;
}

// sub/<id>: {"chain", "keys":[nonce keys in submit order]} while the submission is not final.
std::string SubmissionRecord(uint64_t chain, const std::vector<std::string>& keys) {
  json::Value v = json::Value::Object();
  v.Set("chain", json::Value::Uint(chain));
  json::Value k = json::Value::Array();
  for (const std::string& key : keys) k.Append(json::Value::String(key));
  v.Set("keys", std::move(k));
  return json::Write(v);
}

bool ParseSubmissionRecord(std::string_view raw, uint64_t* chain, std::vector<std::string>* keys) {
  Result<json::Value> v = json::Parse(raw);
  if (!v.ok() || !v->is_object()) return false;
  const json::Value* c = v->Find("chain");
  const json::Value* k = v->Find("keys");
  if (c == nullptr || !c->as_uint64() || k == nullptr || !k->is_array()) return false;
  *chain = *c->as_uint64();
  for (const json::Value& key : k->items()) {
    if (key.is_string()) keys->push_back(key.as_string());
  }
  return true;
}

audit::Event SettlementEvent(const std::string& type, const Settlement& s, int64_t at_micros) {
  audit::Event e;
  e.type = type;
  e.principal = s.principal;
  e.Subject("payment", s.key);
  if (!s.principal.empty()) {  // bound to an authorization or an AP2 mandate of ours
    e.Subject("authorization", s.authorization_id);
    e.Subject("agent", s.agent_id);
    e.Subject("mandate", s.mandate_id);
    e.Subject("ap2-payment", s.ap2_payment);
  }
  e.at_micros = at_micros;
  return e;
}

}  // namespace

std::string_view SettleModeName(SettleMode mode) {
  switch (mode) {
    case SettleMode::kOnchain: return "onchain";
    case SettleMode::kDeferred: return "deferred";
    case SettleMode::kLedger: break;
  }
  return "ledger";
}

Facilitator::Facilitator(store::KvStore& kv, Ledger& ledger, UsageMeter& usage, Clock& clock)
    : kv_(kv), ledger_(ledger), usage_(usage), clock_(clock) {}

void Facilitator::AddEvmBackend(EvmChain& chain, EvmSettlementOptions options) {
  evm_[chain.chain_id()] = EvmBackend{&chain, std::move(options)};
}

Facilitator::EvmBackend* Facilitator::BackendOf(uint64_t chain) {
  auto it = evm_.find(chain);
  return it == evm_.end() ? nullptr : &it->second;
}

std::vector<uint64_t> Facilitator::ServedChains() const {
  std::vector<uint64_t> chains = SupportedChains();
  for (const auto& [chain, backend] : evm_) {
    if (!ChainSupported(chain)) chains.push_back(chain);
  }
  return chains;
}

bool Facilitator::Serves(uint64_t chain) const {
  return chain != 0 && (ChainSupported(chain) || evm_.count(chain) != 0);
}

json::Value Facilitator::Supported() const {
  json::Value kinds = json::Value::Array();
  const std::vector<uint64_t> chains = ServedChains();
  for (uint64_t chain : chains) {
    json::Value k = json::Value::Object();
    k.Set("x402Version", json::Value::Int(kX402V2));
    k.Set("scheme", json::Value::String("exact"));
    k.Set("network", json::Value::String("eip155:" + std::to_string(chain)));
    kinds.Append(std::move(k));
  }
  for (uint64_t chain : chains) {
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
  // The accounts that pay gas for settlements on evm networks (the reference's signers); the
  // ledger needs none.
  json::Value addresses = json::Value::Array();
  std::set<std::string> listed;
  for (const auto& [chain, backend] : evm_) {
    const std::optional<Address> a = backend.chain->facilitator_address();
    if (a && listed.insert(AddressText(*a)).second) {
      addresses.Append(json::Value::String(AddressText(*a)));
    }
  }
  json::Value signers = json::Value::Object();
  signers.Set("eip155:*", std::move(addresses));
  v.Set("signers", std::move(signers));
  return v;
}

Result<Facilitator::Parsed> Facilitator::Parse(const json::Value& body) const {
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
  if (!Serves(out.requirements.chain_id)) {
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
    // A store that cannot answer is not a used nonce: the merchant may ask again.
    v.invalid_reason = used.ok() ? kReasonNonceUsed : kReasonChainUnavailable;
    v.invalid_message = used.ok() ? "FiatTokenV2: authorization is used or canceled"
                                  : ShownToMerchant(used.error());
    return v;
  }
  if (EvmBackend* b = BackendOf(chain); b != nullptr) {
    // The evm backend reads the chain (specs/evm.md §6.2): the token, the nonce, the balance.
    const Authorization3009& a = in.payload.authorization;
    if (!b->chain->Accepts(in.requirements.asset)) {
      v.is_valid = false;
      v.invalid_reason = kReasonTokenNotAccepted;
      v.invalid_message = "token " + AddressText(in.requirements.asset) + " is not settled here";
      return v;
    }
    Result<bool> on_chain = b->chain->AuthorizationUsed(in.requirements.asset, a.from, a.nonce);
    if (!on_chain.ok() || *on_chain) {
      v.is_valid = false;
      v.invalid_reason = on_chain.ok() ? kReasonNonceUsed : kReasonChainUnavailable;
      v.invalid_message = on_chain.ok() ? "FiatTokenV2: authorization is used or canceled (on chain)"
                                        : ShownToMerchant(on_chain.error());
      return v;
    }
    // The domain the payer signed for is the one the token checks: a signature made for another
    // name or version passes the off-chain check and reverts on chain (the reference learns it
    // by simulating the transfer; its diagnosis names these two codes).
    Result<TokenDomain> domain = b->chain->DomainOf(in.requirements.asset);
    if (!domain.ok()) {
      v.is_valid = false;
      // A token without a readable name() or version() (an answer that is no string, or a
      // call that reverts) cannot be checked, and asking again will not change that.
      const bool unreadable = domain.error().reason() == "bad-abi" ||
                              domain.error().reason() == "execution-reverted";
      v.invalid_reason = unreadable ? std::string(kReasonSimulationFailed) : kReasonChainUnavailable;
      v.invalid_message = unreadable ? "the token's name() or version() cannot be read: " +
                                           domain.error().message()
                                     : ShownToMerchant(domain.error());
      return v;
    }
    const std::string name = in.requirements.eip712_name.value_or("");
    const std::string version = in.requirements.eip712_version.value_or("");
    if (name != domain->name || version != domain->version) {
      v.is_valid = false;
      const bool name_differs = name != domain->name;
      v.invalid_reason = name_differs ? kReasonNameMismatch : kReasonVersionMismatch;
      v.invalid_message = name_differs
                              ? "the token's name() is \"" + domain->name +
                                    "\", the requirements' extra.name \"" + name + "\""
                              : "the token's version() is \"" + domain->version +
                                    "\", the requirements' extra.version \"" + version + "\"";
      return v;
    }
    Result<Amount> held = b->chain->BalanceOf(in.requirements.asset, a.from);
    if (held.ok()) {
      // Payments of this payer accepted and not yet final (deferred, or pending on chain) are
      // promised out of that balance.
      Result<Amount> queued =
          QueuedBy(kv_, chain, AddressLower(a.from), AddressLower(in.requirements.asset));
      if (!queued.ok()) {
        held = queued.error();
      } else {
        held = held->Sub(*queued).ok() ? *held->Sub(*queued) : Amount();
      }
    }
    if (!held.ok() || *held < a.value) {
      v.is_valid = false;
      v.invalid_reason = held.ok() ? kReasonInsufficient : kReasonChainUnavailable;
      v.invalid_message = held.ok() ? "the payer's on-chain balance is " + held->ToString()
                                    : ShownToMerchant(held.error());
    }
    return v;
  }
  // What the ledger cannot move fails here, as the reference's chain simulation would, and not
  // later as a settle error: a zero value, or a payer paying itself.
  const Authorization3009& a = in.payload.authorization;
  if (a.value.is_zero() || a.from == a.to) {
    v.is_valid = false;
    v.invalid_reason = std::string(kReasonSimulationFailed);
    v.invalid_message = a.value.is_zero() ? "the ledger moves no payment of 0"
                                          : "the payer pays itself: the ledger moves nothing";
    return v;
  }
  Result<Balance> balance = ledger_.GetBalance(HolderAccount(chain, in.payload.authorization.from),
                                               AssetId(chain, in.requirements.asset));
  if (!balance.ok()) {  // not the payer's fault: ask again, as for a chain that did not answer
    v.is_valid = false;
    v.invalid_reason = std::string(kReasonChainUnavailable);
    v.invalid_message = ShownToMerchant(balance.error());
  } else if (balance->negative || balance->magnitude < in.payload.authorization.value) {
    v.is_valid = false;
    v.invalid_reason = "invalid_exact_evm_insufficient_balance";
    // Not how much it is: a merchant's credential has no ledger:read (specs/access.md).
    v.invalid_message = std::string(kLedgerBalanceTooLow);
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

void Facilitator::StageBind(store::WriteBatch& batch, const Nonce32& nonce, const Binding& b) {
  json::Value v = json::Value::Object();
  v.Set("principal", json::Value::String(b.principal));
  v.Set("authorization", json::Value::String(b.authorization_id));
  v.Set("agent", json::Value::String(b.agent_id));
  v.Set("mandate", json::Value::String(b.mandate_id));
  v.Set("payer", json::Value::String(b.payer));
  if (!b.ap2_payment.empty()) v.Set("ap2_payment", json::Value::String(b.ap2_payment));
  if (b.valid_before != 0) v.Set("valid_before", json::Value::Int(b.valid_before));
  if (!b.digest.empty()) v.Set("digest", json::Value::String(b.digest));
  if (!b.settlement_key.empty()) v.Set("key", json::Value::String(b.settlement_key));
  batch.Put(kX402Family, kBindingPrefix + NonceText(nonce), json::Write(v));
}

Status Facilitator::Bind(const Nonce32& nonce, const Binding& b) {
  store::WriteBatch batch;
  StageBind(batch, nonce, b);
  return kv_.Write(batch);
}

Result<SettleResponse> Facilitator::Settle(const json::Value& body, SettleMode* mode) {
  MD_ASSIGN_OR_RETURN(Parsed in, Parse(body));
  SettleResponse out;
  // The payload's network, as the reference's settle answers (they differ only when that is
  // the failure: invalid_exact_evm_network_mismatch).
  out.network = in.payload.network.empty() ? in.requirements.network : in.payload.network;
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
  std::unique_lock<std::mutex> lock(stripe);
  // A store that cannot answer the lookup fails the settle as it fails a verify (§5.2, §5.3
  // step 2): an answer to ask again, never a problem the merchant's x402 client cannot read.
  Result<std::optional<Settlement>> found = Find(key);
  if (!found.ok()) {
    out.error_reason = std::string(kReasonChainUnavailable);
    out.error_message = ShownToMerchant(found.error());
    return out;
  }
  std::optional<Settlement> prior = std::move(*found);
  if (prior) {
    if (prior->signature == signature) {  // a retry: the recorded answer
      // Only to requirements the payment met when it settled: a payment to one payee (or of
      // one amount, asset or network) is never reported settled for another's requirements.
      const VerifyResponse same = VerifyExactOffline(in.payload, in.requirements, prior->at);
      if (!same.is_valid) {
        out.error_reason = same.invalid_reason;
        out.error_message = same.invalid_message;
        return out;
      }
      if (mode != nullptr) {
        *mode = prior->mode == "deferred" ? SettleMode::kDeferred
                : prior->mode == "onchain" ? SettleMode::kOnchain
                                           : SettleMode::kLedger;
      }
      EvmBackend* b = BackendOf(chain);
      if (b == nullptr || prior->state != "pending" || prior->submission.empty()) {
        return prior->response;
      }
      lock.unlock();  // still pending: wait for it again, as the first settle did
      AwaitFinal(*b, prior->submission, b->options.settle_wait_ms);
      MD_ASSIGN_OR_RETURN(std::optional<Settlement> now, Find(key));
      return PendingWithHash(*b, now ? *now : *prior);
    }
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
  const std::string from = AddressLower(in.payload.authorization.from);
  // `batch` carries the settlement's records; an AP2 binding's claim goes in with them.
  store::WriteBatch batch;
  std::unique_lock<std::mutex> claim;
  if (binding && binding->payer.empty() && !binding->ap2_payment.empty()) {
    claim = std::unique_lock<std::mutex>(claim_mu_);
    MD_ASSIGN_OR_RETURN(binding, FindBinding(in.payload.authorization.nonce));  // now stable
    if (binding && binding->payer.empty()) {
      binding->payer = from;
      binding->settlement_key = key;  // this payment, not another of the payer's under the value
      StageBind(batch, in.payload.authorization.nonce, *binding);
    }
  }
  if (binding && binding->payer != from) {
    binding.reset();  // another payer reusing our nonce value: nothing of ours to capture
  }
  if (binding && !binding->ap2_payment.empty() && binding->settlement_key != key) {
    // The payer's own later payment reusing the value (another token or chain): the closed
    // mandate was paid by the one that claimed it, so this one is not linked to it.
    binding.reset();
  }
  if (EvmBackend* b = BackendOf(chain); b != nullptr) {
    Settlement s;
    s.key = key;
    s.signature = signature;
    s.amount = in.payload.authorization.value.ToString();
    s.at = now;
    s.chain = chain;
    s.payload = PayloadToJson(in.payload);
    s.requirements = in.requirements.raw;
    s.response.payer = verdict.payer;
    s.response.network = in.requirements.network;
    if (binding) {
      s.authorization_id = binding->authorization_id;
      s.principal = binding->principal;
      s.agent_id = binding->agent_id;
      s.mandate_id = binding->mandate_id;
      s.ap2_payment = binding->ap2_payment;
    }
    return SettleEvm(in, std::move(s), *b, lock, claim, std::move(batch), mode);
  }
  if (mode != nullptr) *mode = SettleMode::kLedger;
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
    s.agent_id = binding->agent_id;
    s.mandate_id = binding->mandate_id;
    s.ap2_payment = binding->ap2_payment;
  }
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
    s.usage = MeteredToJson(u);
    metered = std::move(u);
  }
  const std::string record = json::Write(SettlementToJson(s));

  batch.Put(kX402Family, kSettlementPrefix + key, record);
  audit::Event e = SettlementEvent("payment.settled", s, clock_.NowUnixMicros());
  if (!s.authorization_id.empty()) batch.Put(kX402Family, kPendingCapturePrefix + key, record);
  e.data_json = record;
  audit::Stage(batch, e);
  if (metered) usage_.StagePayment(batch, *metered);
  Result<std::vector<Transfer>> applied = ledger_.Apply({t}, std::move(batch));
  if (!applied.ok()) {
    if (applied.error().reason() == "insufficient-funds") {
      out.error_reason = "invalid_exact_evm_insufficient_balance";
      out.error_message = std::string(kLedgerBalanceTooLow);
      return out;
    }
    return applied.error();
  }
  if (claim.owns_lock()) claim.unlock();
  if (metered) usage_.CommittedPayment(*metered);
  if (binding) CaptureBound(s);
  return s.response;
}

void Facilitator::CaptureBound(const Settlement& s) {
  if (!capture_ || s.authorization_id.empty()) return;
  Result<Amount> amount = Amount::Parse(s.amount);
  if (!amount.ok()) return;
  if (!capture_(s.principal, s.authorization_id, *amount).ok()) {
    retry_wanted_ = true;  // the marker stays; retried after the next sweep
    return;
  }
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
  std::vector<Settlement> voids;
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kX402Family, kPendingVoidPrefix,
                                    [&](std::string_view, std::string_view value) {
                                      Result<json::Value> v = json::Parse(value);
                                      if (v.ok()) {
                                        Result<Settlement> s = SettlementFromJson(*v);
                                        if (s.ok()) voids.push_back(std::move(*s));
                                      }
                                      return true;
                                    }));
  for (const Settlement& s : voids) VoidBound(s);
  return pending.size() + voids.size();
}

Result<size_t> Facilitator::RetryFailedCaptures() {
  if (!retry_wanted_.exchange(false)) return size_t{0};
  Result<size_t> pending = RetryCaptures();  // a retry that fails again sets the flag again
  if (!pending.ok()) retry_wanted_ = true;
  return pending;
}

void Facilitator::VoidBound(const Settlement& s) {
  if (!void_ || s.authorization_id.empty()) return;
  if (!void_(s.principal, s.authorization_id).ok()) {
    retry_wanted_ = true;  // the marker stays; retried after the next sweep
    return;
  }
  store::WriteBatch done;
  done.Delete(kX402Family, kPendingVoidPrefix + s.key);
  kv_.Write(done).IgnoreError();  // a leftover marker only repeats an idempotent void
}

// ---- evm backend (specs/evm.md §6) ----

Result<SettleResponse> Facilitator::SettleEvm(const Parsed& in, Settlement s, EvmBackend& backend,
                                              std::unique_lock<std::mutex>& stripe,
                                              std::unique_lock<std::mutex>& claim,
                                              store::WriteBatch batch, SettleMode* mode) {
  const Authorization3009& a = in.payload.authorization;
  const int64_t now = clock_.NowUnixSeconds();
  // Deferred only while the payment stays valid until the flush that will send it can be mined:
  // one that expires sooner is settled on chain now, or the merchant would be told of a payment
  // that then expires unpaid.
  const bool deferred = backend.options.deferred_below.has_value() &&
                        a.value < *backend.options.deferred_below && now >= 0 &&
                        a.valid_before >= static_cast<Uint128>(now) +
                                              static_cast<Uint128>(backend.options.defer_min_validity_s);
  if (!deferred && now >= 0 && a.valid_after >= static_cast<Uint128>(now)) {
    // The token takes it only in a block whose time is past validAfter (FiatToken: now >
    // validAfter): sent now, it would revert and be recorded failed for good. Nothing is
    // recorded; settling again a second later sends it.
    if (claim.owns_lock()) claim.unlock();
    SettleResponse early;
    early.network = s.response.network;
    early.payer = s.response.payer;
    early.error_reason = std::string(kReasonValidAfter);
    early.error_message = "not valid on chain before a block later than validAfter: settle again";
    return early;
  }
  if (deferred) {
    // Accepted now, settled later in a batch (§6.3): the record and its queue entry together.
    s.state = "deferred";
    s.mode = "deferred";
    s.response.success = true;
    s.response.transaction = "";
    const std::string record = json::Write(SettlementToJson(s));
    batch.Put(kX402Family, kSettlementPrefix + s.key, record);
    batch.Put(kX402Family,
              DeferredKey(s.chain, AddressLower(a.from), AddressLower(a.to), s.key),
              DeferredValue(s.key, a.value));
    batch.Put(kX402Family, OwedKey(s.chain, AddressLower(a.from), s.key),
              DeferredValue(s.key, a.value));
    audit::Event e = SettlementEvent("payment.deferred", s, clock_.NowUnixMicros());
    e.data_json = record;
    audit::Stage(batch, e);
    MD_RETURN_IF_ERROR(kv_.Write(batch));
    if (claim.owns_lock()) claim.unlock();
    if (mode != nullptr) *mode = SettleMode::kDeferred;
    return s.response;
  }
  // On chain now (§6.2): the record (pending) and the submission marker are durable before the
  // transfer is handed to the chain, so a crash after this point is resumed, never lost.
  s.state = "pending";
  s.mode = "onchain";
  s.submission = s.key;
  s.response.success = false;
  s.response.error_reason = kReasonPending;
  s.response.error_message = "submitted on chain, not final yet; settle again to learn the outcome";
  batch.Put(kX402Family, kSettlementPrefix + s.key, json::Write(SettlementToJson(s)));
  batch.Put(kX402Family, kSubmissionPrefix + s.key, SubmissionRecord(s.chain, {s.key}));
  batch.Put(kX402Family, OwedKey(s.chain, AddressLower(a.from), s.key),
            DeferredValue(s.key, a.value));
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  if (claim.owns_lock()) claim.unlock();
  if (mode != nullptr) *mode = SettleMode::kOnchain;
  stripe.unlock();  // a concurrent retry finds the pending record and waits the same way
  SubmitRecorded(backend, s.key, {s.key});
  AwaitFinal(backend, s.key, backend.options.settle_wait_ms);
  MD_ASSIGN_OR_RETURN(std::optional<Settlement> latest, Find(s.key));
  return PendingWithHash(backend, latest ? *latest : s);
}

SettleResponse Facilitator::PendingWithHash(EvmBackend& backend, const Settlement& s) {
  SettleResponse r = s.response;
  // Still pending: the transaction broadcast so far, as the reference's settlement_pending
  // answer carries it (its resource server settles again only when it is there).
  if (s.state == "pending" && r.transaction.empty() && !s.submission.empty()) {
    Result<Submission> sub = backend.chain->Track(s.submission);
    if (sub.ok()) r.transaction = sub->tx_hash;
  }
  return r;
}

void Facilitator::SubmitRecorded(EvmBackend& backend, const std::string& id,
                                 const std::vector<std::string>& keys) {
  std::vector<SignedTransfer> transfers;
  for (const std::string& key : keys) {
    Result<std::optional<Settlement>> s = Find(key);
    if (!s.ok() || !s->has_value()) return;  // left for the worker
    Result<SignedTransfer> t = TransferOf(**s);
    if (!t.ok()) {
      Submission failed;
      failed.id = id;
      failed.state = SubmissionState::kFailed;
      failed.error = "recorded payment unreadable: " + t.error().message();
      Finalize(id, failed).IgnoreError();
      return;
    }
    transfers.push_back(std::move(*t));
  }
  Result<Submission> sub = backend.chain->Submit(id, transfers);
  if (sub.ok()) {
    if (sub->state != SubmissionState::kPending) Finalize(id, *sub).IgnoreError();
    return;
  }
  if (sub.error().code() == StatusCode::kInvalidArgument) {
    // The chain will never take it (specs/evm.md §6.2): final, as failed.
    Submission failed;
    failed.id = id;
    failed.state = SubmissionState::kFailed;
    failed.error = sub.error().message();
    Finalize(id, failed).IgnoreError();
    return;
  }
  log::Warn("x402 submission not handed over yet",
            {{"submission", id}, {"error", sub.error().ToString()}});  // the worker retries
}

void Facilitator::AwaitFinal(EvmBackend& backend, const std::string& id, int64_t wait_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    Result<std::optional<std::string>> open = kv_.Get(kX402Family, kSubmissionPrefix + id);
    if (!open.ok() || !open->has_value()) return;  // final (recorded) or unreadable
    Result<Submission> sub = backend.chain->Track(id);
    if (sub.ok() && sub->state != SubmissionState::kPending) {
      Finalize(id, *sub).IgnoreError();
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) return;  // the worker carries on
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Status Facilitator::Finalize(const std::string& id, const Submission& sub) {
  std::lock_guard<std::mutex> lock(finalize_mu_);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, kv_.Get(kX402Family, kSubmissionPrefix + id));
  if (!raw) return OkStatus();  // already recorded
  uint64_t chain = 0;
  std::vector<std::string> keys;
  if (!ParseSubmissionRecord(*raw, &chain, &keys)) {
    return DataLossError("submission record " + id + " is unreadable", "storage-corruption");
  }
  store::WriteBatch batch;
  std::vector<Settlement> captures, voids;
  std::vector<UsageEvent> metered;
  const int64_t now = clock_.NowUnixSeconds();
  const bool some_moved = std::any_of(sub.outcomes.begin(), sub.outcomes.end(),
                                      [](const TransferOutcome& o) { return o.succeeded; });
  for (size_t i = 0; i < keys.size(); ++i) {
    MD_ASSIGN_OR_RETURN(std::optional<Settlement> found, Find(keys[i]));
    if (found) {
      // Final now (or already): no longer owed out of the payer's balance.
      const std::string payer(PayerOfNonceKey(keys[i]));
      if (!payer.empty()) batch.Delete(kX402Family, OwedKey(found->chain, payer, keys[i]));
    }
    if (!found || found->state == "settled" || found->state == "failed") continue;
    Settlement s = std::move(*found);
    // A mined batch says per transfer what moved: one refused transfer makes the submission
    // kReverted, but the others in it were paid (specs/evm.md §5.3).
    const bool mined = sub.state == SubmissionState::kConfirmed ||
                       sub.state == SubmissionState::kReverted;
    const bool ok = !sub.outcomes.empty()
                        ? mined && i < sub.outcomes.size() && sub.outcomes[i].succeeded
                        : sub.state == SubmissionState::kConfirmed;
    s.tx_hash = sub.tx_hash;
    s.submission = id;
    if (ok) {
      s.state = "settled";
      s.response.success = true;
      s.response.error_reason.clear();
      s.response.error_message.clear();
      s.response.transaction = sub.tx_hash;
    } else {
      s.state = "failed";
      s.response.success = false;
      // Mined and reverted (or refused inside a mined batch): the reference's code with the
      // transaction; never broadcast (its gas estimation reverted): the code its revert text
      // names, without one (specs/evm.md §6.2).
      s.response.error_reason =
          mined ? std::string(kReasonFailedOnChain) : std::string(SettleCodeOfRevert(sub.error));
      s.response.error_message =
          some_moved ? "the token refused this transfer in the batch"
          : !sub.error.empty() ? sub.error
                               : "the transaction reverted";
      s.response.transaction = mined ? sub.tx_hash : "";
    }
    if (ok && !s.principal.empty()) {  // metered under its principal (authorization or AP2)
      Result<PaymentPayload> p = ParsePayload(s.payload);
      Result<PaymentRequirements> r =
          p.ok() ? ParseRequirements(s.requirements, p->version, "")
                 : Result<PaymentRequirements>(p.error());
      if (p.ok() && r.ok()) {
        UsageEvent u;
        u.id = "x402:" + NonceText(p->authorization.nonce);
        u.principal = s.principal;
        u.agent = s.agent_id;
        u.mandate = s.mandate_id;
        u.payee = AddressLower(p->authorization.to);
        u.asset = AssetId(s.chain, r->asset);
        u.amount = p->authorization.value;
        u.resource = p->resource.is_object() ? StringOf(p->resource, "url") : r->resource;
        u.at = now;
        u.source = "payment";
        s.usage = MeteredToJson(u);
        usage_.StagePayment(batch, u);
        metered.push_back(std::move(u));
      }
    }
    const std::string record = json::Write(SettlementToJson(s));
    batch.Put(kX402Family, kSettlementPrefix + s.key, record);
    audit::Event e = SettlementEvent(ok ? "payment.settled" : "payment.failed", s,
                                     clock_.NowUnixMicros());
    e.data_json = record;
    audit::Stage(batch, e);
    if (!s.authorization_id.empty()) {
      batch.Put(kX402Family, (ok ? kPendingCapturePrefix : kPendingVoidPrefix) + s.key, record);
      (ok ? captures : voids).push_back(s);
    }
  }
  batch.Delete(kX402Family, kSubmissionPrefix + id);
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  for (const UsageEvent& u : metered) usage_.CommittedPayment(u);
  for (const Settlement& s : captures) CaptureBound(s);
  for (const Settlement& s : voids) VoidBound(s);
  return OkStatus();
}

Result<size_t> Facilitator::ResumeSubmissions() {
  if (evm_.empty()) return size_t{0};
  std::vector<std::pair<std::string, std::string>> open;  // id, record
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kX402Family, kSubmissionPrefix,
                                    [&](std::string_view key, std::string_view value) {
    open.emplace_back(std::string(key.substr(sizeof(kSubmissionPrefix) - 1)), std::string(value));
    return true;
  }));
  size_t pending = 0;
  for (const auto& [id, raw] : open) {
    uint64_t chain = 0;
    std::vector<std::string> keys;
    if (!ParseSubmissionRecord(raw, &chain, &keys)) continue;
    EvmBackend* b = BackendOf(chain);
    if (b == nullptr) continue;  // its network is no longer configured: left as it is
    Result<Submission> sub = b->chain->Track(id);
    if (!sub.ok() && sub.error().code() == StatusCode::kNotFound) {
      SubmitRecorded(*b, id, keys);  // recorded but never handed over (a crash in between)
      ++pending;
      continue;
    }
    if (!sub.ok()) {
      ++pending;
      continue;
    }
    if (sub->state == SubmissionState::kPending) {
      ++pending;
      continue;
    }
    // One submission that cannot be finalized (a record that does not read) is left for the
    // next pass and logged; it does not stop the tracking of the others.
    if (Status f = Finalize(id, *sub); !f.ok()) {
      log::Warn("x402 submission not finalized", {{"submission", id}, {"error", f.ToString()}});
      ++pending;
    }
  }
  return pending;
}

Result<size_t> Facilitator::FlushDeferred() {
  if (evm_.empty()) return size_t{0};
  std::lock_guard<std::mutex> lock(flush_mu_);
  MD_ASSIGN_OR_RETURN(std::vector<DeferredEntry> queued, LoadDeferred(kv_));
  size_t submitted = 0;
  std::vector<std::pair<EvmBackend*, std::pair<std::string, std::vector<std::string>>>> handed;
  std::map<uint64_t, std::vector<DeferredEntry>> by_chain;
  for (DeferredEntry& e : queued) by_chain[e.chain].push_back(std::move(e));
  for (const auto& [chain, entries] : by_chain) {
    EvmBackend* b = BackendOf(chain);
    if (b == nullptr) continue;
    // Several transfers to a transaction only through the batch settler, which deferral needs:
    // payments queued before a restart that configured deferral away go one by one instead of
    // being refused for good as batching-disabled (they were answered success).
    const size_t batch_max = b->options.deferred_below.has_value() ? b->options.batch_max : 1;
    const int64_t now = clock_.NowUnixSeconds();
    for (const std::vector<DeferredEntry>& group : PlanBatches(entries, batch_max)) {
      // The batch's id names its first payment, so it is new (each payment is batched once).
      std::vector<std::string> keys;
      store::WriteBatch batch;
      for (const DeferredEntry& e : group) {
        Result<std::optional<Settlement>> found = Find(e.nonce_key);
        if (!found.ok()) {
          // A record that does not read stays queued (and logged); the others are paid.
          log::Warn("x402 deferred payment not batched",
                    {{"payment", e.nonce_key}, {"error", found.error().ToString()}});
          continue;
        }
        const std::optional<Settlement>& s = *found;
        if (s && s->state == "deferred" && s->submission.empty()) {
          // Not before a block later than validAfter (FiatToken: now > validAfter): sent now it
          // would revert and be recorded failed for good. It stays queued for the next flush.
          Result<SignedTransfer> t = TransferOf(*s);
          if (t.ok() && now >= 0 && t->authorization.valid_after >= static_cast<Uint128>(now)) {
            continue;
          }
        }
        batch.Delete(kX402Family, e.queue_key);
        if (!s || s->state != "deferred" || !s->submission.empty()) continue;
        keys.push_back(e.nonce_key);
      }
      if (keys.empty()) {
        MD_RETURN_IF_ERROR(kv_.Write(batch));
        continue;
      }
      const std::string seed = "mandated/x402/batch/" + keys.front();
      const Bytes h = signer::Keccak256(
          ByteSpan(reinterpret_cast<const uint8_t*>(seed.data()), seed.size()));
      const std::string id = "batch-" + HexEncode(h).substr(0, 32);
      for (const std::string& key : keys) {
        MD_ASSIGN_OR_RETURN(std::optional<Settlement> s, Find(key));
        s->submission = id;
        batch.Put(kX402Family, kSettlementPrefix + key, json::Write(SettlementToJson(*s)));
      }
      batch.Put(kX402Family, kSubmissionPrefix + id, SubmissionRecord(chain, keys));
      MD_RETURN_IF_ERROR(kv_.Write(batch));  // durable before the chain sees it
      submitted += keys.size();
      handed.push_back({b, {id, std::move(keys)}});
    }
  }
  for (auto& [b, job] : handed) SubmitRecorded(*b, job.first, job.second);
  return submitted;
}

Result<std::pair<size_t, size_t>> Facilitator::Backlog() {
  size_t queued = 0, open = 0;
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kX402Family, kDeferredPrefix, [&](std::string_view, std::string_view) {
    ++queued;
    return true;
  }));
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kX402Family, kSubmissionPrefix, [&](std::string_view, std::string_view) {
    ++open;
    return true;
  }));
  return std::make_pair(queued, open);
}

}  // namespace mandated::settlement
