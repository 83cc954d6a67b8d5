// JSON form of a verdict reason (specs/mandate.md §7).
#include "mandates/reason.h"

namespace mandated::mandates {

json::Value ReasonToJson(const Reason& reason) {
  json::Value out = json::Value::Object();
  out.Set("code", json::Value::String(reason.code));
  if (!reason.mandate.empty()) {
    out.Set("mandate", json::Value::String(reason.mandate));
  }
  if (!reason.pointer.empty()) {
    out.Set("pointer", json::Value::String(reason.pointer));
  }
  if (!reason.detail.empty()) {
    out.Set("detail", json::Value::String(reason.detail));
  }
  return out;
}

}  // namespace mandated::mandates
