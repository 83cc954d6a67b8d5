// AnvilChain: anvil as a child process (own process group, killed with it), the deploy script
// through popen, and JSON-RPC over loopback HTTP.
#include "tests/support/anvil_chain.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "base/amount.h"
#include "base/bytes.h"
#include "signer/keccak.h"
#include "tests/support/test_support.h"

namespace mandated::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// The native anvil binary of the npm package (its bin.mjs shim would leave it orphaned when
// killed), else the shim.
std::string AnvilBinary() {
  const std::string native =
      SourcePath("tests/interop/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
  if (std::filesystem::exists(native)) return native;
  return SourcePath("tests/interop/node_modules/.bin/anvil");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Strip0x(const std::string& s) {
  return s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0 ? s.substr(2) : s;
}

Uint128 ParseDecimal128(const std::string& d) {
  Uint128 v = 0;
  for (char c : d) v = v * 10 + static_cast<unsigned>(c - '0');
  return v;
}

std::string Decimal128(Uint128 v) {
  if (v == 0) return "0";
  std::string out;
  while (v > 0) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return out;
}

json::Value Params(std::initializer_list<json::Value> items) {
  json::Value a = json::Value::Array();
  for (const json::Value& v : items) a.Append(v);
  return a;
}

json::Value Str(const std::string& s) { return json::Value::String(s); }

}  // namespace

std::string HexQuantityToDecimal(const std::string& hex) {
  const std::string h = Strip0x(hex);
  Uint128 v = 0;
  for (char c : h) {
    if (v >> 124) return "overflow";  // the tests' amounts stay far below 2^128
    const int d = isdigit(static_cast<unsigned char>(c)) ? c - '0' : (tolower(c) - 'a' + 10);
    v = (v << 4) | static_cast<unsigned>(d);
  }
  return Decimal128(v);
}

AnvilChain::AnvilChain() : AnvilChain(Options()) {}
AnvilChain::AnvilChain(Options options) : options_(std::move(options)) {}

AnvilChain::~AnvilChain() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);  // its own process group (see Start)
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (!log_path_.empty()) std::remove(log_path_.c_str());
}

bool AnvilChain::Available() {
  return std::filesystem::exists(AnvilBinary()) &&
         std::filesystem::exists(SourcePath("tests/interop/node_modules/solc")) &&
         std::filesystem::exists(SourcePath("tests/interop/node_modules/viem")) &&
         std::system("node --version > /dev/null 2>&1") == 0;
}

bool AnvilChain::Start() {
  // A free port can be taken by another process before anvil binds it: try again on a new one.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (StartOnce()) return true;
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    accounts_.clear();
    if (attempt < 2) std::remove(log_path_.c_str());  // the last one stays for error()
  }
  return false;
}

bool AnvilChain::StartOnce() {
  static std::atomic<int> counter{0};
  port_ = FreeLoopbackPort();
  if (port_ == 0) {
    error_ = "no free loopback port";
    return false;
  }
  const char* tmp = getenv("TMPDIR");
  log_path_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/anvil." +
              std::to_string(getpid()) + "." + std::to_string(counter.fetch_add(1)) + ".log";
  std::vector<std::string> argv = {AnvilBinary(), "--host", "127.0.0.1", "--port",
                                   std::to_string(port_), "--chain-id",
                                   std::to_string(options_.chain_id), "--accounts", "10"};
  if (options_.block_time_s > 0) {
    argv.push_back("--block-time");
    argv.push_back(std::to_string(options_.block_time_s));
  } else if (!options_.automine) {
    argv.push_back("--no-mining");
  }
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test binary
    if (getppid() != parent) _exit(1);
    const int out = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(out, 2);
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  setpgid(pid_, pid_);
  rpc_url_ = "http://127.0.0.1:" + std::to_string(port_);

  // Ready when eth_chainId answers.
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    json::Value r;
    up = TryRpc("eth_chainId", json::Value::Array(), &r).empty();
    if (!up) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "anvil exited: " + Slurp(log_path_);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else {
      chain_id_ = std::stoull(HexQuantityToDecimal(r.as_string()));
    }
  }
  if (!up) {
    error_ = "anvil did not answer eth_chainId: " + Slurp(log_path_);
    return false;
  }

  // Its development accounts, as it printed them.
  const std::string log = Slurp(log_path_);
  const std::regex account(R"(\((\d+)\) (0x[0-9a-fA-F]{40}) \()");
  const std::regex key(R"(\((\d+)\) (0x[0-9a-fA-F]{64}))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), account); it != std::sregex_iterator();
       ++it) {
    accounts_.push_back(DevAccount{(*it)[2], ""});
  }
  size_t k = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), key);
       it != std::sregex_iterator() && k < accounts_.size(); ++it) {
    accounts_[k++].private_key = (*it)[2];
  }
  if (accounts_.empty() || accounts_.back().private_key.empty()) {
    error_ = "anvil did not print its accounts: " + log;
    return false;
  }

  std::string cmd = "node '" + SourcePath("tests/interop/chain_deploy.mjs") + "' '" + rpc_url_ + "'";
  for (const auto& [to, amount] : options_.mints) cmd += " '" + to + "=" + amount + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    error_ = "cannot run node";
    return false;
  }
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) {
    error_ = "chain_deploy.mjs failed: " + out;
    return false;
  }
  Result<json::Value> deployed = json::Parse(out);
  if (!deployed.ok() || !deployed->is_object()) {
    error_ = "chain_deploy.mjs printed: " + out;
    return false;
  }
  token_ = Lower(StringField(*deployed, "token"));
  settler_ = Lower(StringField(*deployed, "batchSettler"));
  deployer_ = StringField(*deployed, "deployer");
  if (token_.empty() || settler_.empty()) {
    error_ = "chain_deploy.mjs printed: " + out;
    return false;
  }
  return true;
}

std::string AnvilChain::TryRpc(const std::string& method, json::Value params, json::Value* result) {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(60, 0);
  json::Value req = json::Value::Object();
  req.Set("jsonrpc", Str("2.0"));
  req.Set("id", json::Value::Int(1));
  req.Set("method", Str(method));
  req.Set("params", std::move(params));
  httplib::Result r = client.Post("/", json::Write(req), "application/json");
  if (!r) return "no answer from anvil";
  Result<json::Value> v = json::Parse(r->body);
  if (!v.ok() || !v->is_object()) return "not JSON: " + r->body;
  if (const json::Value* e = v->Find("error"); e != nullptr && !e->is_null()) return json::Write(*e);
  const json::Value* res = v->Find("result");
  if (res == nullptr) return "no result: " + r->body;
  if (result != nullptr) *result = *res;
  return "";
}

json::Value AnvilChain::Rpc(const std::string& method, json::Value params) {
  json::Value r;
  const std::string err = TryRpc(method, std::move(params), &r);
  EXPECT_EQ(err, "") << method;
  return r;
}

void AnvilChain::Mine(int blocks) {
  for (int i = 0; i < blocks; ++i) Rpc("evm_mine");
}

void AnvilChain::SetAutomine(bool on) { Rpc("evm_setAutomine", Params({json::Value::Bool(on)})); }

void AnvilChain::SetEthBalance(const std::string& address, const std::string& wei_hex) {
  Rpc("anvil_setBalance", Params({Str(address), Str(wei_hex)}));
}

uint64_t AnvilChain::BlockNumber() {
  const json::Value r = Rpc("eth_blockNumber");
  return r.is_string() ? std::stoull(HexQuantityToDecimal(r.as_string())) : 0;
}

std::string AnvilChain::Selector(const std::string& signature) {
  const Bytes h = signer::Keccak256(
      ByteSpan(reinterpret_cast<const uint8_t*>(signature.data()), signature.size()));
  return HexEncode(ByteSpan(h.data(), 4));
}

std::string AnvilChain::Word(const std::string& hex_or_address) {
  const std::string h = Lower(Strip0x(hex_or_address));
  return std::string(h.size() < 64 ? 64 - h.size() : 0, '0') + h;
}

std::string AnvilChain::WordOfDecimal(const std::string& decimal) {
  Uint128 v = ParseDecimal128(decimal);
  std::string h;
  while (v > 0) {
    h.insert(h.begin(), "0123456789abcdef"[static_cast<int>(v & 15)]);
    v >>= 4;
  }
  return Word(h);
}

std::string AnvilChain::Call(const std::string& to, const std::string& data_hex) {
  json::Value tx = json::Value::Object();
  tx.Set("to", Str(to));
  tx.Set("data", Str(data_hex));
  const json::Value r = Rpc("eth_call", Params({tx, Str("latest")}));
  return r.is_string() ? r.as_string() : std::string();
}

std::string AnvilChain::BalanceOf(const std::string& owner) { return BalanceOf(token_, owner); }

std::string AnvilChain::BalanceOf(const std::string& token, const std::string& owner) {
  return HexQuantityToDecimal(Call(token, "0x" + Selector("balanceOf(address)") + Word(owner)));
}

bool AnvilChain::AuthorizationUsed(const std::string& authorizer, const std::string& nonce_hex) {
  const std::string r =
      Call(token_, "0x" + Selector("authorizationState(address,bytes32)") + Word(authorizer) +
                       Word(nonce_hex));
  return HexQuantityToDecimal(r) == "1";
}

std::string AnvilChain::SendTransaction(const std::string& from, const std::string& to,
                                        const std::string& data_hex, bool mine) {
  json::Value tx = json::Value::Object();
  tx.Set("from", Str(from));
  tx.Set("to", Str(to));
  tx.Set("data", Str(data_hex));
  tx.Set("gas", Str("0xf4240"));  // 1M: no estimate, so a reverting call still goes out
  const json::Value hash = Rpc("eth_sendTransaction", Params({tx}));
  if (!hash.is_string()) return "";
  if (!mine) return hash.as_string();
  for (int i = 0; i < 50; ++i) {
    json::Value receipt;
    TryRpc("eth_getTransactionReceipt", Params({hash}), &receipt);
    if (receipt.is_object()) {
      return StringField(receipt, "status") == "0x1" ? hash.as_string() : std::string();
    }
    Mine();
  }
  ADD_FAILURE() << "no receipt for " << hash.as_string();
  return "";
}

void AnvilChain::Mint(const std::string& to, const std::string& amount) {
  const std::string h = SendTransaction(
      deployer_, token_, "0x" + Selector("mint(address,uint256)") + Word(to) + WordOfDecimal(amount));
  EXPECT_NE(h, "") << "mint reverted";
}

void AnvilChain::TransferFrom(const std::string& from, const std::string& to,
                              const std::string& amount) {
  Rpc("anvil_impersonateAccount", Params({Str(from)}));
  SetEthBalance(from, "0x56bc75e2d63100000");  // 100 ETH for gas
  const std::string h = SendTransaction(
      from, token_, "0x" + Selector("transfer(address,uint256)") + Word(to) + WordOfDecimal(amount));
  EXPECT_NE(h, "") << "transfer reverted";
  Rpc("anvil_stopImpersonatingAccount", Params({Str(from)}));
}

uint64_t AnvilChain::TransactionCount(const std::string& address) {
  const json::Value r = Rpc("eth_getTransactionCount", Params({Str(address), Str("latest")}));
  return r.is_string() ? std::stoull(HexQuantityToDecimal(r.as_string())) : 0;
}

uint64_t AnvilChain::TransactionsInBlocks(uint64_t first, uint64_t last) {
  uint64_t n = 0;
  for (uint64_t b = first; b <= last; ++b) {
    std::ostringstream q;
    q << "0x" << std::hex << b;
    const json::Value r = Rpc("eth_getBlockTransactionCountByNumber", Params({Str(q.str())}));
    if (r.is_string()) n += std::stoull(HexQuantityToDecimal(r.as_string()));
  }
  return n;
}

uint64_t AnvilChain::TransactionsTo(const std::string& to, uint64_t first, uint64_t last) {
  uint64_t n = 0;
  const std::string want = Lower(to);
  for (uint64_t b = first; b <= last; ++b) {
    std::ostringstream q;
    q << "0x" << std::hex << b;
    const json::Value block = Rpc("eth_getBlockByNumber", Params({Str(q.str()), json::Value::Bool(true)}));
    const json::Value* txs = block.is_object() ? block.Find("transactions") : nullptr;
    if (txs == nullptr || !txs->is_array()) continue;
    for (size_t i = 0; i < txs->size(); ++i) {
      if (Lower(StringField(txs->items()[i], "to")) == want) ++n;
    }
  }
  return n;
}

}  // namespace mandated::testing
