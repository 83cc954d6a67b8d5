// mandatectl: the command-line client of mandated.
#include <stdio.h>

#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    mandated::cli::Output o = mandated::cli::RunCommand(args);
    fputs(o.out.c_str(), stdout);
    fputs(o.err.c_str(), stderr);
    return o.exit_code;
  } catch (const std::exception& e) {
    fprintf(stderr, "mandatectl: fatal: %s\n", e.what());
    return 70;
  }
}
