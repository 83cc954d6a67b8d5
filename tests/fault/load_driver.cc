// LoadDriver: mixed requests over HTTP with every acknowledged answer recorded and every
// unanswered one kept for a retry with the same Idempotency-Key (specs/authorization.md §6).
#include "tests/fault/load_driver.h"

#include <httplib.h>

#include <chrono>
#include <ctime>
#include <random>
#include <thread>

#include "base/amount.h"
#include "base/json.h"
#include "base/random.h"
#include "mandates/credential.h"
#include "signer/did.h"
#include "signer/signature.h"

namespace mandated::fault {
namespace {

std::string Str(const json::Value& v, const char* key) {
  const json::Value* m = v.Find(key);
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

uint64_t U64(const json::Value& v, const char* key) {
  const json::Value* m = v.Find(key);
  if (m == nullptr || !m->is_string()) return 0;
  Result<Amount> a = Amount::Parse(m->as_string());
  return a.ok() && a->fits_uint64() ? a->low64() : 0;
}

struct Answer {
  int status = 0;
  std::string body;
  json::Value json;
};

Answer Post(httplib::Client& c, const std::string& path, const std::string& token,
            const std::string& body, const std::string& key = "") {
  httplib::Headers h{{"Authorization", "Bearer " + token}};
  if (!key.empty()) h.emplace("Idempotency-Key", key);
  httplib::Result r = c.Post(path, h, body, "application/json");
  Answer a;
  if (!r) return a;
  a.status = r->status;
  a.body = r->body;
  Result<json::Value> v = json::Parse(r->body);
  a.json = v.ok() ? *v : json::Value::Object();
  return a;
}

std::unique_ptr<httplib::Client> Connect(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(2, 0);
  c->set_read_timeout(20, 0);
  return c;
}

}  // namespace

bool SetUpWorld(int port, const std::string& op, int agents, Subject& s,
                std::vector<std::string>& agent_ids, std::string& error) {
  std::unique_ptr<httplib::Client> c = Connect(port);
  auto call = [&](const std::string& path, const std::string& token, const std::string& body,
                  std::string& out_id, const char* field = "id") {
    Answer a = Post(*c, path, token, body);
    out_id = Str(a.json, field);
    if (a.status != 201 || out_id.empty()) {
      error = "POST " + path + " " + body + " -> " + std::to_string(a.status) + " " + a.body;
      return false;
    }
    return true;
  };
  s.operator_token = op;
  if (!call("/v1/principals", op,
            R"({"name":"Fault Corp","ceilings":[{"asset":"USD","window":"month","max":")" +
                std::to_string(kPrincipalMonth) + R"("}]})",
            s.principal)) {
    return false;
  }
  const std::string base = "/v1/principals/" + s.principal;
  std::string user;
  if (!call(base + "/users", op, R"({"name":"ada","roles":["admin"]})", user)) return false;
  if (!call(base + "/credentials", op, R"({"role":"admin","user":")" + user + R"("})", s.admin,
            "token")) {
    return false;
  }
  s.deposit_account = "principal:" + s.principal;
  const int64_t now = std::time(nullptr);
  const std::string from = mandates::FormatRfc3339Utc(now - 3600);
  const std::string until = mandates::FormatRfc3339Utc(now + 30 * 86400);
  const std::string terms = R"({"limits":{"per_transaction":[{"asset":"USD","max":")" +
                            std::to_string(kPerTransactionMax) +
                            R"("}],"lifetime":[{"asset":"USD","max":")" +
                            std::to_string(kMandateLifetime) + R"("}]}})";
  for (int i = 0; i < agents; ++i) {
    Result<signer::PrivateKey> key =
        signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    if (!key.ok()) {
      error = key.error().ToString();
      return false;
    }
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(*key));
    std::string agent, mandate;
    if (!call(base + "/agents", s.admin,
              R"({"name":"buyer-)" + std::to_string(i) + R"(","did":")" + did + R"("})", agent) ||
        !call(base + "/mandates", s.admin,
              R"({"agent":")" + agent + R"(","valid_from":")" + from + R"(","valid_until":")" +
                  until + R"(","terms":)" + terms + "}",
              mandate)) {
      return false;
    }
    agent_ids.push_back(agent);
    s.mandates.push_back(mandate);
  }
  httplib::Result k = c->Get("/v1/audit/key", {{"Authorization", "Bearer " + op}});
  Result<json::Value> kv = k ? json::Parse(k->body) : Result<json::Value>(InternalError("none"));
  s.verifier_key = kv.ok() ? Str(*kv, "verifier_key") : "";
  if (s.verifier_key.empty()) {
    error = "GET /v1/audit/key: " + (k ? std::to_string(k->status) + " " + k->body : "no answer");
    return false;
  }
  return true;
}

LoadDriver::LoadDriver(Subject& subject, std::vector<std::string> agents, uint64_t seed)
    : subject_(subject), agents_(std::move(agents)), seed_(seed) {}

bool LoadDriver::OpenSessions(int port, std::string& error) {
  std::unique_ptr<httplib::Client> c = Connect(port);
  std::vector<std::string> tokens;
  for (size_t i = 0; i < agents_.size(); ++i) {
    Answer a = Post(*c, "/v1/principals/" + subject_.principal + "/agents/" + agents_[i] +
                            "/sessions",
                    subject_.admin,
                    R"({"task":"fault load","mandates":[")" + subject_.mandates[i] + R"("]})");
    if (a.status != 201 || Str(a.json, "token").empty()) {
      error = "opening a session: " + std::to_string(a.status) + " " + a.body;
      return false;
    }
    tokens.push_back(Str(a.json, "token"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  sessions_ = std::move(tokens);
  return true;
}

std::string LoadDriver::TokenFor(const Request& r) {
  if (r.kind == Kind::kDeposit || r.kind == Kind::kUsage) return subject_.admin;
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.at(static_cast<size_t>(r.agent));
}

LoadDriver::Outcome LoadDriver::Send(httplib::Client& c, const Request& r,
                                     std::string* allowed) {
  Answer a = Post(c, r.path, TokenFor(r), r.body, r.key);
  if (a.status == 0) return Outcome::kNoAnswer;
  return Record(r, a.status, a.body, allowed);
}

LoadDriver::Outcome LoadDriver::Record(const Request& r, int status, const std::string& body,
                                       std::string* allowed) {
  if (status == 429 || (status == 409 && (body.find("in-flight") != std::string::npos ||
                                          body.find("-busy") != std::string::npos))) {
    return Outcome::kRetry;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (status == 503 || status == 507) {
    storage_refusals_.push_back(r.path + " -> " + std::to_string(status) + " " + body);
    return Outcome::kStorageRefused;
  }
  Result<json::Value> parsed = json::Parse(body);
  const json::Value v = parsed.ok() ? *parsed : json::Value::Object();
  auto unexpected = [&] {
    errors_.push_back(r.path + " " + r.body + " -> " + std::to_string(status) + " " + body);
    return Outcome::kAnswered;
  };
  switch (r.kind) {
    case Kind::kAuthorize: {
      if (status != 201) return unexpected();
      AckedAuthorization a;
      a.id = Str(v, "id");
      a.decision = Str(v, "decision");
      a.mandate = Str(v, "mandate");
      a.amount = U64(v, "amount");
      if (const json::Value* res = v.Find("reservation"); res != nullptr && res->is_object()) {
        a.state = Str(*res, "state");
        a.captured = U64(*res, "captured");
      }
      if (a.id.empty() || a.amount != r.amount) return unexpected();
      if (a.decision == "allowed" && allowed != nullptr) *allowed = a.id;
      acked_.authorizations[a.id] = a;
      break;
    }
    case Kind::kCapture:
    case Kind::kVoid: {
      if (status != 200) return unexpected();
      auto it = acked_.authorizations.find(r.authorization);
      const json::Value* res = v.Find("reservation");
      if (it == acked_.authorizations.end() || res == nullptr || !res->is_object()) {
        return unexpected();
      }
      it->second.state = Str(*res, "state");
      it->second.captured = U64(*res, "captured");
      const std::string want = r.kind == Kind::kVoid ? "voided" : "captured";
      if (it->second.state != want ||
          (r.kind == Kind::kCapture && it->second.captured != r.amount)) {
        return unexpected();
      }
      break;
    }
    case Kind::kDeposit: {
      const json::Value* t = v.Find("transfer");
      if (status != 201 || t == nullptr || Str(*t, "id").empty()) return unexpected();
      acked_.deposited += r.amount;
      acked_.deposit_transfers.push_back(Str(*t, "id"));
      break;
    }
    case Kind::kUsage: {
      const json::Value* acc = v.Find("accepted");
      const json::Value* dup = v.Find("duplicates");
      const json::Value* con = v.Find("conflicts");
      if (status != 200 || acc == nullptr || dup == nullptr || con == nullptr ||
          acc->as_uint64().value_or(0) + dup->as_uint64().value_or(0) != r.events ||
          con->as_uint64().value_or(1) != 0) {
        return unexpected();
      }
      acked_.usage_amount += r.amount;
      acked_.usage_events += r.events;
      break;
    }
  }
  answered_.fetch_add(1);
  return Outcome::kAnswered;
}

std::vector<std::string> LoadDriver::TakeStorageRefusals() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.swap(storage_refusals_);
  return out;
}

void LoadDriver::RunLoad(int port, int threads, const std::atomic<bool>& stop, uint64_t round) {
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([this, port, t, round, &stop] {
      std::unique_ptr<httplib::Client> c = Connect(port);
      std::mt19937_64 rng(seed_ ^ (round * 0x9E3779B97F4A7C15ULL) ^ (uint64_t{7919} * t));
      const int agent = t % static_cast<int>(agents_.size());
      const std::string tag = std::to_string(seed_) + "-";
      // Sends `r` (retrying transient refusals); false when the client must stop.
      auto send = [&](const Request& r, std::string* allowed) {
        for (int attempt = 0; attempt < 200; ++attempt) {
          const Outcome o = Send(*c, r, allowed);
          if (o == Outcome::kAnswered) return true;
          if (o == Outcome::kRetry && !stop.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
          }
          std::lock_guard<std::mutex> lock(mu_);
          pending_.push_back(r);
          return o == Outcome::kStorageRefused && !stop.load();
        }
        std::lock_guard<std::mutex> lock(mu_);
        pending_.push_back(r);
        return false;
      };
      while (!stop.load()) {
        Request r;
        const uint64_t n = next_key_.fetch_add(1);
        r.key = "f-" + tag + std::to_string(n);
        const uint64_t pick = rng() % 100;
        if (pick < 65) {
          r.kind = Kind::kAuthorize;
          r.agent = agent;
          r.amount = rng() % 20 == 0 ? kPerTransactionMax + 1 + rng() % 100
                                     : 1 + rng() % kPerTransactionMax;
          r.path = "/v1/authorizations";
          r.body = R"({"mandate":")" + subject_.mandates[static_cast<size_t>(agent)] +
                   R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
                   std::to_string(r.amount) + R"(","asset":"USD"})";
        } else if (pick < 80) {
          r.kind = Kind::kDeposit;
          r.amount = 1 + rng() % 10000;
          r.path = "/v1/ledger/deposits";
          r.body = R"({"account":")" + subject_.deposit_account +
                   R"(","asset":"USD","amount":")" + std::to_string(r.amount) +
                   R"(","reference":"fault )" + std::to_string(n) + "\"}";
        } else {
          r.kind = Kind::kUsage;
          r.key.clear();  // usage de-duplicates by event id (specs/usage.md §2)
          r.events = 1 + rng() % 5;
          r.path = "/v1/principals/" + subject_.principal + "/usage";
          std::string events;
          for (uint64_t e = 0; e < r.events; ++e) {
            const uint64_t amount = 1 + rng() % 1000;
            r.amount += amount;
            events += std::string(e == 0 ? "" : ",") + R"({"id":"u-)" + tag +
                      std::to_string(n) + "-" + std::to_string(e) +
                      R"(","payee":"api.shop.example","asset":"USD","amount":")" +
                      std::to_string(amount) + "\"}";
          }
          r.body = R"({"events":[)" + events + "]}";
        }
        std::string allowed;
        if (!send(r, &allowed)) break;
        if (allowed.empty() || rng() % 10 < 3) continue;
        // Follow an allowed authorization with a capture (all or part) or a void.
        Request f;
        f.agent = agent;
        f.authorization = allowed;
        f.key = r.key + "-then";
        const uint64_t then = rng() % 3;
        if (then == 2) {
          f.kind = Kind::kVoid;
          f.path = "/v1/authorizations/" + allowed + "/void";
        } else {
          f.kind = Kind::kCapture;
          f.path = "/v1/authorizations/" + allowed + "/capture";
          f.amount = r.amount;
          if (then == 1) {
            f.amount = 1 + rng() % r.amount;
            f.body = R"({"amount":")" + std::to_string(f.amount) + R"("})";
          }
        }
        if (!send(f, nullptr)) break;
      }
    });
  }
  for (std::thread& th : clients) th.join();
}

bool LoadDriver::Settle(int port, int attempts) {
  std::unique_ptr<httplib::Client> c = Connect(port);
  for (int pass = 0; pass < attempts; ++pass) {
    std::vector<Request> todo;
    {
      std::lock_guard<std::mutex> lock(mu_);
      todo.swap(pending_);
    }
    if (todo.empty()) return true;
    std::vector<Request> left;
    for (const Request& r : todo) {
      if (Send(*c, r, nullptr) != Outcome::kAnswered) {
        left.push_back(r);
        if (left.size() == 1) c = Connect(port);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(pending_.begin(), left.begin(), left.end());
    if (pending_.empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace mandated::fault
