// Delegation may only narrow: the check that a child mandate's terms and validity lie inside its
// parent's (specs/mandate.md §4).
#pragma once

#include "base/status.h"
#include "mandates/model.h"

namespace mandated::mandates {

// OK if `child` grants nothing `parent` does not: a scope inside the parent's, every parent limit
// kept and no larger, no looser step-up or session cap, every parent constraint kept, and a
// validity window inside the parent's. Otherwise kInvalidArgument with reason
// "delegation-widens" whose message starts with the JSON pointer of the child's offending field
// ("/scope/payees/allow/2", "/limits/windows/0/max", "/validUntil"; a dropped parent entry
// names the child's list, e.g. "/limits/lifetime"). Pointers are relative to the mandate object,
// except /validFrom and /validUntil, which are the credential's.
// Does not check that child.parent names the parent: the caller, which knows the ids, does.
// Thread safety: pure function.
Status CheckAttenuation(const MandateTerms& parent, const Validity& parent_validity,
                        const MandateTerms& child, const Validity& child_validity);

// The terms-only part of CheckAttenuation (no validity windows).
Status CheckTermsAttenuation(const MandateTerms& parent, const MandateTerms& child);

}  // namespace mandated::mandates
