// Tests of the JSON-lines logger: lines written from many threads at once reach stderr whole
// and in each thread's order, short ones without the lock and long ones with it.
#include <gtest/gtest.h>
#include <limits.h>
#include <unistd.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/json.h"
#include "base/log.h"

namespace mandated {
namespace {

// Points stderr at a pipe for the life of the object and collects what arrives.
class StderrCapture {
 public:
  StderrCapture() {
    EXPECT_EQ(::pipe(fds_), 0);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds_[1], STDERR_FILENO);
    reader_ = std::thread([this] {
      char buf[8192];
      for (;;) {
        const ssize_t n = ::read(fds_[0], buf, sizeof(buf));
        if (n <= 0) break;
        text_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  // Restores stderr and returns everything written meanwhile.
  std::string Finish() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(fds_[1]);
    reader_.join();
    ::close(fds_[0]);
    return text_;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
  std::thread reader_;
  std::string text_;
};

TEST(LogTest, LinesFromManyThreadsReachStderrWholeAndInOrder) {
  constexpr int kThreads = 8;
  constexpr int kLines = 400;
  const std::string long_value(PIPE_BUF + 100, 'L');  // every 50th line takes the locked path
  StderrCapture capture;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &long_value] {
      for (int i = 0; i < kLines; ++i) {
        log::Info("log-test", {{"thread", t}, {"n", i},
                               {"pad", i % 50 == 0 ? long_value : std::string(i % 90, 'p')}});
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = capture.Finish();

  std::map<int64_t, int64_t> next;  // thread -> next n expected
  size_t lines = 0;
  size_t long_lines = 0;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "a line without its newline at " << start;
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    Result<json::Value> v = json::Parse(line);
    ASSERT_TRUE(v.ok()) << "not one whole JSON line: " << line.substr(0, 200);
    if (v->Find("msg")->as_string() != "log-test") continue;  // anything else on stderr
    const int64_t t = *v->Find("thread")->as_int64();
    const int64_t n = *v->Find("n")->as_int64();
    EXPECT_EQ(n, next[t]) << "thread " << t;
    next[t] = n + 1;
    const size_t pad = v->Find("pad")->as_string().size();
    EXPECT_EQ(pad, n % 50 == 0 ? long_value.size() : static_cast<size_t>(n % 90));
    long_lines += pad == long_value.size() ? 1 : 0;
    ++lines;
  }
  EXPECT_EQ(lines, static_cast<size_t>(kThreads * kLines));
  EXPECT_EQ(long_lines, static_cast<size_t>(kThreads * (kLines / 50)));
  EXPECT_EQ(next.size(), static_cast<size_t>(kThreads));
}

}  // namespace
}  // namespace mandated
