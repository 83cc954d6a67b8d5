// Attenuation: a delegated mandate's terms must lie inside its parent's (specs/mandate.md §4).
#include "mandates/attenuation.h"

#include <string>
#include <vector>

#include "base/asset.h"
#include "mandates/patterns.h"

namespace mandated::mandates {
namespace {

Status Widens(const std::string& pointer, const std::string& what) {
  return InvalidArgumentError(pointer + ": " + what, "delegation-widens");
}

std::string At(const std::string& pointer, size_t i) { return pointer + "/" + std::to_string(i); }

std::string Describe(const Payee& p) {
  return std::string(PayeeTypeName(p.type)) + " " + p.value;
}
std::string Describe(const std::string& s) { return s; }

bool Covers(const Payee& parent, const Payee& child) {
  if (parent.type != child.type) {
    return false;
  }
  if (parent.type == PayeeType::kDomain) {
    return DomainCovers(parent.value, child.value);
  }
  if (parent.type == PayeeType::kDid) {
    return CanonicalPayeeDid(parent.value) == CanonicalPayeeDid(child.value);
  }
  return parent.value == child.value;
}

bool Equal(const std::string& parent, const std::string& child) { return parent == child; }

bool ResourceCovered(const std::string& parent, const std::string& child) {
  return ResourceCovers(parent, child);
}

// Child allow list inside the parent's; no parent allow list means unrestricted.
template <typename T, typename CoverFn>
Status CheckAllow(const std::vector<T>& parent, const std::vector<T>& child,
                  const std::string& pointer, CoverFn covers) {
  if (parent.empty()) {
    return OkStatus();
  }
  if (child.empty()) {
    return Widens(pointer, "the parent allows only " + std::to_string(parent.size()) +
                               " entries here; the child must keep an allow list inside them");
  }
  for (size_t i = 0; i < child.size(); ++i) {
    bool covered = false;
    for (const T& p : parent) {
      if (covers(p, child[i])) {
        covered = true;
        break;
      }
    }
    if (!covered) {
      return Widens(At(pointer, i), Describe(child[i]) + " is not allowed by the parent");
    }
  }
  return OkStatus();
}

// Child block list a superset of the parent's: every parent entry blocked by some child entry.
template <typename T, typename CoverFn>
Status CheckBlock(const std::vector<T>& parent, const std::vector<T>& child,
                  const std::string& pointer, CoverFn covers) {
  for (size_t j = 0; j < parent.size(); ++j) {
    bool kept = false;
    for (const T& c : child) {
      if (covers(c, parent[j])) {
        kept = true;
        break;
      }
    }
    if (!kept) {
      return Widens(pointer, "the parent blocks " + Describe(parent[j]) + " (its " +
                                 At(pointer, j) + "); the child must block it too");
    }
  }
  return OkStatus();
}

Status CheckScope(const Scope& p, const Scope& c) {
  MD_RETURN_IF_ERROR(CheckAllow(p.payees.allow, c.payees.allow, "/scope/payees/allow",
                                [](const Payee& a, const Payee& b) { return Covers(a, b); }));
  MD_RETURN_IF_ERROR(CheckBlock(p.payees.block, c.payees.block, "/scope/payees/block",
                                [](const Payee& a, const Payee& b) { return Covers(a, b); }));
  MD_RETURN_IF_ERROR(
      CheckAllow(p.categories.allow, c.categories.allow, "/scope/categories/allow", Equal));
  MD_RETURN_IF_ERROR(
      CheckBlock(p.categories.block, c.categories.block, "/scope/categories/block", Equal));
  MD_RETURN_IF_ERROR(
      CheckAllow(p.countries.allow, c.countries.allow, "/scope/countries/allow", Equal));
  MD_RETURN_IF_ERROR(
      CheckBlock(p.countries.block, c.countries.block, "/scope/countries/block", Equal));
  MD_RETURN_IF_ERROR(CheckAllow(p.assets, c.assets, "/scope/assets/allow", Equal));
  MD_RETURN_IF_ERROR(CheckAllow(p.networks, c.networks, "/scope/networks/allow", Equal));
  MD_RETURN_IF_ERROR(
      CheckAllow(p.resources, c.resources, "/scope/resources/allow", ResourceCovered));
  return OkStatus();
}

// A child may only limit an asset the parent can spend: one in the parent's asset allow list
// (when it has one) and named by at least one of the parent's amount limits (specs/mandate.md
// §3.2: an asset without an amount limit is not spendable).
Status CheckParentSpends(const MandateTerms& p, const std::string& asset,
                         const std::string& pointer) {
  if (!p.scope.assets.empty()) {
    bool allowed = false;
    for (const std::string& a : p.scope.assets) {
      allowed = allowed || SameAssetId(a, asset);
    }
    if (!allowed) {
      return Widens(pointer, "asset " + asset + " is not in the parent's /scope/assets/allow");
    }
  }
  for (const PerTransactionLimit& l : p.limits.per_transaction) {
    if (SameAssetId(l.asset, asset)) {
      return OkStatus();
    }
  }
  for (const WindowLimit& l : p.limits.windows) {
    if (SameAssetId(l.asset, asset)) {
      return OkStatus();
    }
  }
  for (const AssetMax& l : p.limits.lifetime) {
    if (SameAssetId(l.asset, asset)) {
      return OkStatus();
    }
  }
  return Widens(pointer, "the parent has no amount limit in " + asset +
                             ", so it cannot spend it and cannot delegate it");
}

// True if the child can spend `asset` at all: it is in the child's asset allow list (when there
// is one) and some child amount limit names it. Parent limits in other assets need not be kept:
// without them the child cannot spend there anyway (specs/mandate.md §3.2, §4).
bool ChildSpends(const MandateTerms& c, const std::string& asset) {
  if (!c.scope.assets.empty()) {
    bool allowed = false;
    for (const std::string& a : c.scope.assets) {
      allowed = allowed || SameAssetId(a, asset);
    }
    if (!allowed) {
      return false;
    }
  }
  for (const PerTransactionLimit& l : c.limits.per_transaction) {
    if (SameAssetId(l.asset, asset)) {
      return true;
    }
  }
  for (const WindowLimit& l : c.limits.windows) {
    if (SameAssetId(l.asset, asset)) {
      return true;
    }
  }
  for (const AssetMax& l : c.limits.lifetime) {
    if (SameAssetId(l.asset, asset)) {
      return true;
    }
  }
  return false;
}

template <typename T>
const T* FindAsset(const std::vector<T>& items, const std::string& asset, size_t* index) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (SameAssetId(items[i].asset, asset)) {
      *index = i;
      return &items[i];
    }
  }
  return nullptr;
}

std::string WindowName(const WindowLimit& w) {
  std::string s = w.asset + " " + std::string(WindowKindName(w.kind)) + " " +
                  std::string(WindowUnitName(w.window));
  if (w.kind == WindowKind::kCalendar) {
    s += " (" + w.time_zone + ")";
  }
  return s;
}

Status CheckLimits(const MandateTerms& parent, const MandateTerms& child) {
  const Limits& p = parent.limits;
  const Limits& c = child.limits;
  // Every child limit is in an asset the parent spends.
  for (size_t i = 0; i < c.per_transaction.size(); ++i) {
    MD_RETURN_IF_ERROR(CheckParentSpends(parent, c.per_transaction[i].asset,
                                         At("/limits/per_transaction", i) + "/asset"));
  }
  for (size_t i = 0; i < c.windows.size(); ++i) {
    MD_RETURN_IF_ERROR(
        CheckParentSpends(parent, c.windows[i].asset, At("/limits/windows", i) + "/asset"));
  }
  for (size_t i = 0; i < c.lifetime.size(); ++i) {
    MD_RETURN_IF_ERROR(
        CheckParentSpends(parent, c.lifetime[i].asset, At("/limits/lifetime", i) + "/asset"));
  }
  // Every parent limit is kept, no larger.
  for (const PerTransactionLimit& pl : p.per_transaction) {
    if (!ChildSpends(child, pl.asset)) {
      continue;
    }
    size_t i = 0;
    const PerTransactionLimit* cl = FindAsset(c.per_transaction, pl.asset, &i);
    if (cl == nullptr) {
      return Widens("/limits/per_transaction", "the parent limits " + pl.asset +
                                                   " per transaction; the child must too");
    }
    const std::string at = At("/limits/per_transaction", i);
    if (cl->max > pl.max) {
      return Widens(at + "/max", cl->max.ToString() + " is above the parent's " +
                                     pl.max.ToString());
    }
    if (pl.min.has_value() && (!cl->min.has_value() || *cl->min < *pl.min)) {
      return Widens(at + "/min", "below the parent's minimum " + pl.min->ToString());
    }
  }
  for (const WindowLimit& pw : p.windows) {
    if (!ChildSpends(child, pw.asset)) {
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < c.windows.size(); ++i) {
      const WindowLimit& cw = c.windows[i];
      if (SameAssetId(cw.asset, pw.asset) && cw.window == pw.window && cw.kind == pw.kind &&
          cw.time_zone == pw.time_zone) {
        found = true;
        if (cw.max > pw.max) {
          return Widens(At("/limits/windows", i) + "/max",
                        cw.max.ToString() + " is above the parent's " + pw.max.ToString());
        }
      }
    }
    if (!found) {
      return Widens("/limits/windows",
                    "the parent has a " + WindowName(pw) + " window; the child must keep it");
    }
  }
  for (const AssetMax& pl : p.lifetime) {
    if (!ChildSpends(child, pl.asset)) {
      continue;
    }
    size_t i = 0;
    const AssetMax* cl = FindAsset(c.lifetime, pl.asset, &i);
    if (cl == nullptr) {
      return Widens("/limits/lifetime",
                    "the parent has a lifetime budget in " + pl.asset + "; the child must too");
    }
    if (cl->max > pl.max) {
      return Widens(At("/limits/lifetime", i) + "/max",
                    cl->max.ToString() + " is above the parent's " + pl.max.ToString());
    }
  }
  if (p.max_uses.has_value() && (!c.max_uses.has_value() || *c.max_uses > *p.max_uses)) {
    return Widens("/limits/max_uses",
                  "must be at most the parent's " + std::to_string(*p.max_uses));
  }
  if (p.min_interval_seconds.has_value() &&
      (!c.min_interval_seconds.has_value() ||
       *c.min_interval_seconds < *p.min_interval_seconds)) {
    return Widens("/limits/min_interval_seconds",
                  "must be at least the parent's " + std::to_string(*p.min_interval_seconds));
  }
  return OkStatus();
}

Status CheckStepUp(const StepUp& p, const MandateTerms& child) {
  const StepUp& c = child.step_up;
  for (const Threshold& pt : p.above) {
    if (!ChildSpends(child, pt.asset)) {
      continue;
    }
    size_t i = 0;
    const Threshold* ct = FindAsset(c.above, pt.asset, &i);
    if (ct == nullptr) {
      return Widens("/step_up/above", "the parent asks for approval above " +
                                          pt.amount.ToString() + " " + pt.asset +
                                          "; the child must too");
    }
    if (ct->amount > pt.amount) {
      return Widens(At("/step_up/above", i) + "/amount",
                    ct->amount.ToString() + " is above the parent's " + pt.amount.ToString());
    }
  }
  if (!p.outside_hours.has_value()) {
    return OkStatus();
  }
  const BusinessHours& ph = *p.outside_hours;
  if (!c.outside_hours.has_value()) {
    return Widens("/step_up/outside_hours",
                  "the parent asks for approval outside business hours; the child must too");
  }
  const BusinessHours& ch = *c.outside_hours;
  if (ch.time_zone != ph.time_zone) {
    return Widens("/step_up/outside_hours/time_zone",
                  "must be the parent's time zone " + ph.time_zone);
  }
  for (size_t i = 0; i < ch.days.size(); ++i) {
    bool in_parent = false;
    for (int d : ph.days) {
      in_parent = in_parent || d == ch.days[i];
    }
    if (!in_parent) {
      return Widens(At("/step_up/outside_hours/days", i),
                    "not a business day of the parent");
    }
  }
  if (ch.start_minute < ph.start_minute) {
    return Widens("/step_up/outside_hours/start", "earlier than the parent's start");
  }
  if (ch.end_minute > ph.end_minute) {
    return Widens("/step_up/outside_hours/end", "later than the parent's end");
  }
  return OkStatus();
}

Status CheckSessionCap(const std::vector<AssetMax>& p, const MandateTerms& child) {
  const std::vector<AssetMax>& c = child.session_cap;
  for (const AssetMax& pc : p) {
    if (!ChildSpends(child, pc.asset)) {
      continue;
    }
    size_t i = 0;
    const AssetMax* cc = FindAsset(c, pc.asset, &i);
    if (cc == nullptr) {
      return Widens("/session_cap",
                    "the parent caps sessions in " + pc.asset + "; the child must too");
    }
    if (cc->max > pc.max) {
      return Widens(At("/session_cap", i) + "/max",
                    cc->max.ToString() + " is above the parent's " + pc.max.ToString());
    }
  }
  return OkStatus();
}

Status CheckConstraints(const std::vector<Constraint>& p, const std::vector<Constraint>& c) {
  for (size_t j = 0; j < p.size(); ++j) {
    bool kept = false;
    for (const Constraint& cc : c) {
      kept = kept || cc == p[j];
    }
    if (!kept) {
      return Widens("/constraints", "the parent's constraint " + p[j].type + " (its " +
                                        At("/constraints", j) + ") must be kept unchanged");
    }
  }
  return OkStatus();
}

}  // namespace

Status CheckTermsAttenuation(const MandateTerms& parent, const MandateTerms& child) {
  MD_RETURN_IF_ERROR(CheckScope(parent.scope, child.scope));
  MD_RETURN_IF_ERROR(CheckLimits(parent, child));
  MD_RETURN_IF_ERROR(CheckStepUp(parent.step_up, child));
  MD_RETURN_IF_ERROR(CheckSessionCap(parent.session_cap, child));
  MD_RETURN_IF_ERROR(CheckConstraints(parent.constraints, child.constraints));
  return OkStatus();
}

Status CheckAttenuation(const MandateTerms& parent, const Validity& parent_validity,
                        const MandateTerms& child, const Validity& child_validity) {
  if (child_validity.not_before < parent_validity.not_before) {
    return Widens("/validFrom", "starts before the parent's validFrom");
  }
  if (child_validity.not_after > parent_validity.not_after) {
    return Widens("/validUntil", "ends after the parent's validUntil");
  }
  return CheckTermsAttenuation(parent, child);
}

}  // namespace mandated::mandates
