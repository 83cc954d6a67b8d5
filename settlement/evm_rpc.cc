// JSON-RPC 2.0 client of an Ethereum node (specs/evm.md §4).
#include "settlement/evm_rpc.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>
#include <utility>

namespace mandated::settlement {
namespace {

Status BadAnswer(std::string what) {
  return InvalidArgumentError("json-rpc: " + what, "bad-rpc-answer");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Uint128> ParseQuantityBits(std::string_view text, int bits) {
  if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) {
    return BadAnswer("quantity \"" + std::string(text) + "\" is not 0x-prefixed hex");
  }
  const std::string_view digits = text.substr(2);
  if (digits.size() > 1 && digits[0] == '0') {
    return BadAnswer("quantity \"" + std::string(text) + "\" has a leading zero");
  }
  // Without leading zeros, the digit count bounds the value exactly.
  if (digits.size() > static_cast<size_t>(bits / 4)) {
    return BadAnswer("quantity \"" + std::string(text) + "\" is too large");
  }
  Uint128 v = 0;
  for (char c : digits) {
    const int d = HexDigit(c);
    if (d < 0) {
      return BadAnswer("quantity \"" + std::string(text) + "\" is not hex");
    }
    v = (v << 4) | static_cast<Uint128>(d);
  }
  return v;
}

json::Value Str(std::string s) { return json::Value::String(std::move(s)); }

json::Value Params(std::initializer_list<json::Value> values) {
  json::Value a = json::Value::Array();
  for (const json::Value& v : values) {
    a.Append(v);
  }
  return a;
}

json::Value CallObject(const Address* from, const Address& to, ByteSpan data) {
  json::Value o = json::Value::Object();
  if (from != nullptr) {
    o.Set("from", Str(AddressLower(*from)));
  }
  o.Set("to", Str(AddressLower(to)));
  o.Set("data", Str("0x" + HexEncode(data)));
  return o;
}

Result<std::string> StringOf(const json::Value& v, std::string_view what) {
  if (!v.is_string()) {
    return BadAnswer(std::string(what) + " is not a string");
  }
  return v.as_string();
}

Result<uint64_t> Quantity64Of(const json::Value* v, std::string_view what) {
  if (v == nullptr || !v->is_string()) {
    return BadAnswer(std::string(what) + " is not a quantity string");
  }
  return ParseQuantity64(v->as_string());
}

Result<abi::Word> WordOf(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(std::string s, StringOf(v, "log topic"));
  MD_ASSIGN_OR_RETURN(Bytes b, ParseData(s));
  if (b.size() != 32) {
    return BadAnswer("log topic is not 32 bytes");
  }
  abi::Word w{};
  std::copy(b.begin(), b.end(), w.begin());
  return w;
}

Result<abi::Log> LogOf(const json::Value& v) {
  if (!v.is_object()) {
    return BadAnswer("log is not an object");
  }
  abi::Log log;
  const json::Value* address = v.Find("address");
  const json::Value* topics = v.Find("topics");
  const json::Value* data = v.Find("data");
  if (address == nullptr || topics == nullptr || !topics->is_array() || data == nullptr) {
    return BadAnswer("log lacks address, topics or data");
  }
  MD_ASSIGN_OR_RETURN(std::string a, StringOf(*address, "log address"));
  MD_ASSIGN_OR_RETURN(Bytes ab, ParseData(a));
  if (ab.size() != 20) {
    return BadAnswer("log address is not 20 bytes");
  }
  std::copy(ab.begin(), ab.end(), log.address.begin());
  for (const json::Value& t : topics->items()) {
    MD_ASSIGN_OR_RETURN(abi::Word w, WordOf(t));
    log.topics.push_back(w);
  }
  MD_ASSIGN_OR_RETURN(std::string d, StringOf(*data, "log data"));
  MD_ASSIGN_OR_RETURN(log.data, ParseData(d));
  return log;
}

}  // namespace

Result<uint64_t> ParseQuantity64(std::string_view text) {
  MD_ASSIGN_OR_RETURN(Uint128 v, ParseQuantityBits(text, 64));
  return static_cast<uint64_t>(v);
}

Result<Uint128> ParseQuantity128(std::string_view text) { return ParseQuantityBits(text, 128); }

std::string Quantity(Uint128 v) {
  if (v == 0) {
    return "0x0";
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string digits;
  while (v != 0) {
    digits.insert(digits.begin(), kDigits[static_cast<int>(v & 0xf)]);
    v >>= 4;
  }
  return "0x" + digits;
}

Result<Bytes> ParseData(std::string_view text) {
  if (text.size() < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) {
    return BadAnswer("data is not 0x-prefixed hex");
  }
  Result<Bytes> b = HexDecode(text.substr(2));
  if (!b.ok()) {
    return BadAnswer("data is not hex: " + b.error().message());
  }
  return b;
}

Result<json::Value> EvmRpc::Call(std::string_view method, json::Value params, bool retry) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  json::Value req = json::Value::Object();
  req.Set("jsonrpc", Str("2.0"));
  req.Set("id", json::Value::Uint(id));
  req.Set("method", Str(std::string(method)));
  req.Set("params", std::move(params));
  const std::string body = json::Write(req);

  Result<std::string> answer = UnavailableError("not sent");
  const int attempts = retry ? 1 + std::max(0, retries_) : 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      // Bounded linear back-off between transport failures (specs/evm.md §4.3).
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    }
    answer = transport_.Post(body);
    if (answer.ok() || answer.error().code() != StatusCode::kUnavailable) {
      break;
    }
  }
  if (!answer.ok()) {
    return answer.error().Annotate(std::string(method));
  }
  Result<json::Value> parsed = json::Parse(*answer);
  if (!parsed.ok() || !parsed->is_object()) {
    return BadAnswer(std::string(method) + ": answer is not a JSON object");
  }
  const json::Value* got_id = parsed->Find("id");
  if (got_id == nullptr || got_id->as_uint64() != id) {
    return BadAnswer(std::string(method) + ": answer id does not match the request");
  }
  if (const json::Value* err = parsed->Find("error"); err != nullptr && !err->is_null()) {
    std::string message;
    int64_t code = 0;
    if (err->is_object()) {
      if (const json::Value* m = err->Find("message"); m != nullptr && m->is_string()) {
        message = m->as_string();
      }
      if (const json::Value* c = err->Find("code"); c != nullptr && c->as_int64()) {
        code = *c->as_int64();
      }
    }
    const bool reverted = code == 3 || Lower(message).find("revert") != std::string::npos;
    return FailedPreconditionError(
        std::string(method) + ": node error " + std::to_string(code) + ": " + message,
        reverted ? "execution-reverted" : "rpc-error");
  }
  const json::Value* result = parsed->Find("result");
  if (result == nullptr) {
    return BadAnswer(std::string(method) + ": answer has neither result nor error");
  }
  return *result;
}

Result<uint64_t> EvmRpc::ChainId() {
  MD_ASSIGN_OR_RETURN(json::Value r, Call("eth_chainId", json::Value::Array(), true));
  return Quantity64Of(&r, "eth_chainId");
}

Result<uint64_t> EvmRpc::BlockNumber() {
  MD_ASSIGN_OR_RETURN(json::Value r, Call("eth_blockNumber", json::Value::Array(), true));
  return Quantity64Of(&r, "eth_blockNumber");
}

Result<uint64_t> EvmRpc::TransactionCount(const Address& account, std::string_view block) {
  MD_ASSIGN_OR_RETURN(json::Value r,
                      Call("eth_getTransactionCount",
                           Params({Str(AddressLower(account)), Str(std::string(block))}), true));
  return Quantity64Of(&r, "eth_getTransactionCount");
}

Result<uint64_t> EvmRpc::EstimateGas(const Address& from, const Address& to, ByteSpan data) {
  MD_ASSIGN_OR_RETURN(json::Value r,
                      Call("eth_estimateGas", Params({CallObject(&from, to, data)}), true));
  return Quantity64Of(&r, "eth_estimateGas");
}

Result<FeeData> EvmRpc::Fees() {
  FeeData f;
  MD_ASSIGN_OR_RETURN(json::Value block, Call("eth_getBlockByNumber",
                                              Params({Str("latest"), json::Value::Bool(false)}),
                                              true));
  const json::Value* base = block.is_object() ? block.Find("baseFeePerGas") : nullptr;
  if (base == nullptr || !base->is_string()) {
    return BadAnswer("latest block has no baseFeePerGas (not an EIP-1559 chain)");
  }
  MD_ASSIGN_OR_RETURN(f.base_fee, ParseQuantity128(base->as_string()));
  Result<json::Value> tip = Call("eth_maxPriorityFeePerGas", json::Value::Array(), true);
  if (tip.ok()) {
    MD_ASSIGN_OR_RETURN(std::string t, StringOf(*tip, "eth_maxPriorityFeePerGas"));
    MD_ASSIGN_OR_RETURN(f.max_priority_fee_per_gas, ParseQuantity128(t));
  } else if (tip.error().code() == StatusCode::kFailedPrecondition) {
    // A node without the method: the legacy gas price less the base fee.
    MD_ASSIGN_OR_RETURN(json::Value gp, Call("eth_gasPrice", json::Value::Array(), true));
    MD_ASSIGN_OR_RETURN(std::string g, StringOf(gp, "eth_gasPrice"));
    MD_ASSIGN_OR_RETURN(Uint128 price, ParseQuantity128(g));
    f.max_priority_fee_per_gas = price > f.base_fee ? price - f.base_fee : 0;
  } else {
    return tip.error();
  }
  // Saturating: a node's answer is not trusted to stay below 2^127.
  const Uint128 max = ~Uint128{0};
  const Uint128 twice = f.base_fee > max / 2 ? max : 2 * f.base_fee;
  f.max_fee_per_gas =
      twice > max - f.max_priority_fee_per_gas ? max : twice + f.max_priority_fee_per_gas;
  return f;
}

Result<Bytes> EvmRpc::EthCall(const Address& to, ByteSpan data) {
  MD_ASSIGN_OR_RETURN(json::Value r,
                      Call("eth_call", Params({CallObject(nullptr, to, data), Str("latest")}),
                           true));
  MD_ASSIGN_OR_RETURN(std::string s, StringOf(r, "eth_call"));
  return ParseData(s);
}

Result<std::string> EvmRpc::SendRawTransaction(ByteSpan raw, const std::string& hash) {
  // Retrying is safe: the same bytes are the same transaction under the same hash.
  Result<json::Value> r =
      Call("eth_sendRawTransaction", Params({Str("0x" + HexEncode(raw))}), true);
  if (r.ok()) {
    MD_ASSIGN_OR_RETURN(std::string got, StringOf(*r, "eth_sendRawTransaction"));
    if (Lower(got) != Lower(hash)) {
      return BadAnswer("eth_sendRawTransaction answered hash " + got + ", expected " + hash);
    }
    return hash;
  }
  if (r.error().code() != StatusCode::kFailedPrecondition) {
    return r.error();
  }
  const std::string m = Lower(r.error().message());
  if (m.find("already known") != std::string::npos ||
      m.find("known transaction") != std::string::npos ||
      m.find("already imported") != std::string::npos) {
    return hash;
  }
  if (m.find("nonce too low") != std::string::npos) {
    // Our nonce is used: by this transaction (then it is known) or by another one.
    MD_ASSIGN_OR_RETURN(bool known, TransactionKnown(hash));
    if (known) {
      return hash;
    }
    return FailedPreconditionError(r.error().message(), "nonce-too-low");
  }
  return r.error();
}

Result<std::optional<Receipt>> EvmRpc::TransactionReceipt(const std::string& hash) {
  MD_ASSIGN_OR_RETURN(json::Value r,
                      Call("eth_getTransactionReceipt", Params({Str(hash)}), true));
  if (r.is_null()) {
    return std::optional<Receipt>();
  }
  if (!r.is_object()) {
    return BadAnswer("receipt is not an object");
  }
  Receipt out;
  out.tx_hash = hash;
  MD_ASSIGN_OR_RETURN(out.block_number, Quantity64Of(r.Find("blockNumber"), "blockNumber"));
  MD_ASSIGN_OR_RETURN(uint64_t status, Quantity64Of(r.Find("status"), "status"));
  if (status > 1) {
    return BadAnswer("receipt status is neither 0 nor 1");
  }
  out.status = status == 1;
  MD_ASSIGN_OR_RETURN(out.gas_used, Quantity64Of(r.Find("gasUsed"), "gasUsed"));
  const json::Value* logs = r.Find("logs");
  if (logs == nullptr || !logs->is_array()) {
    return BadAnswer("receipt has no logs array");
  }
  for (const json::Value& l : logs->items()) {
    MD_ASSIGN_OR_RETURN(abi::Log log, LogOf(l));
    out.logs.push_back(std::move(log));
  }
  return std::optional<Receipt>(std::move(out));
}

Result<bool> EvmRpc::TransactionKnown(const std::string& hash) {
  MD_ASSIGN_OR_RETURN(json::Value r,
                      Call("eth_getTransactionByHash", Params({Str(hash)}), true));
  return !r.is_null();
}

}  // namespace mandated::settlement
