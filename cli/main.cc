// mandatectl: the command-line client of mandated.
#include <stdio.h>

#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    mandated::cli::Output o = mandated::cli::RunCommand(args);
    // An answer that cannot be written is lost (a token printed once, a record): say so and
    // exit 6, never 0, whatever the server did (and not 4, which `authorize` gives a request
    // waiting for a person: an allowed one whose answer was lost must not read as that).
    const bool written = fputs(o.out.c_str(), stdout) >= 0 && fflush(stdout) == 0;
    fputs(o.err.c_str(), stderr);
    if (!written) {
      fprintf(stderr,
              "mandatectl: could not write the answer to standard output; the server may have "
              "acted on the request (a token it printed once is lost)\n");
      return 6;
    }
    return o.exit_code;
  } catch (const std::exception& e) {
    fprintf(stderr, "mandatectl: fatal: %s\n", e.what());
    return 70;
  }
}
