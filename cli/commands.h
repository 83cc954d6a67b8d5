// mandatectl commands: argument parsing, dispatch and output (human text or --json).
#pragma once

#include <string>
#include <vector>

namespace mandated::cli {

struct Output {
  std::string out;  // standard output
  std::string err;  // standard error
  int exit_code = 0;
};

// Runs one command line (without the program name). Global flags, accepted anywhere:
//   --server URL (or MANDATED_SERVER; default http://127.0.0.1:8420; http or https; a trailing
//     "/" is dropped)
//   --token-file FILE, --token TOKEN (or MANDATED_TOKEN; --token is visible to other local users)
//   --principal ID (or MANDATED_PRINCIPAL; for users, credentials, agents and sessions; audit
//     trails and exports select a principal only with --principal itself)
//   --json (machine-readable output)
// Exit codes: 0 success, 1 the server refused (problem printed), `mandates verify` found the
// mandate invalid (verdict printed) or `authorize` was denied, 2 usage or local error (bad
// arguments, a bad server URL, an unusable key or token file), 3 unreachable, 4 `authorize`
// answered approval_required (the amount is held while a person decides).
Output RunCommand(const std::vector<std::string>& args);

}  // namespace mandated::cli
