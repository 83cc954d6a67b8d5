// Compiled into every test binary (tests/CMakeLists.txt, mandated_test): the tests talk to
// servers that may close a connection while the client still writes (a 413 answered before a
// 1 MiB body is read), and such a write must fail with EPIPE, which the test sees, instead of
// SIGPIPE killing the whole binary mid-suite.
#include <csignal>

namespace {

[[maybe_unused]] const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

}  // namespace
