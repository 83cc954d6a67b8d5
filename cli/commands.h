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
//   --server URL (or MANDATED_SERVER; default http://127.0.0.1:8420)
//   --token TOKEN (or MANDATED_TOKEN)
//   --json (machine-readable output)
// Exit codes: 0 success, 1 the server refused (problem printed), 2 usage error, 3 unreachable.
Output RunCommand(const std::vector<std::string>& args);

}  // namespace mandated::cli
