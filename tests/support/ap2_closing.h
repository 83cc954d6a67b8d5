// The closing hop an AP2 agent holding its own key signs (specs/ap2.md §6): what the AP2 tests
// and the race tests present on /v1/ap2/present.
#pragma once

#include <cstdint>
#include <string>

#include "base/json.h"
#include "base/random.h"
#include "base/result.h"
#include "mandates/sd_jwt.h"
#include "signer/signature.h"

namespace mandated::testing {

// `open` (an open payment mandate's token) closed by `key` for `amount` minor units of USD to
// payee "shop" in transaction `tx`, with an instrument of type `instrument`, signed at `iat` for
// `aud` and `nonce`: `<open>~~<closing hop>`.
inline Result<std::string> SignAp2Closing(const std::string& open, const signer::PrivateKey& key,
                                          int64_t amount, const std::string& tx,
                                          const std::string& aud, const std::string& nonce,
                                          int64_t iat, Random& random,
                                          const std::string& instrument = "card") {
  json::Value claims = json::Value::Object();
  claims.Set("vct", json::Value::String("mandate.payment.1"));
  claims.Set("payee", json::Value::Object()
                          .Set("id", json::Value::String("shop"))
                          .Set("name", json::Value::String("Shop")));
  claims.Set("payment_instrument", json::Value::Object()
                                       .Set("id", json::Value::String("pay-1"))
                                       .Set("type", json::Value::String(instrument)));
  claims.Set("transaction_id", json::Value::String(tx));
  claims.Set("payment_amount", json::Value::Object()
                                   .Set("amount", json::Value::Int(amount))
                                   .Set("currency", json::Value::String("USD")));
  claims.Set("iat", json::Value::Int(iat));
  claims.Set("aud", json::Value::String(aud));
  claims.Set("nonce", json::Value::String(nonce));
  return mandates::sdjwt::AppendHop(open, claims, json::Value(), mandates::sdjwt::HopOptions{},
                                    random, mandates::sdjwt::SignerFor(key));
}

}  // namespace mandated::testing
