// The unit tests' main: each test's log lines are kept and printed only if
// the test fails, so a failure in CI's shortened output comes with its own
// log and not hundreds of lines from the tests that passed.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "common/log.h"

namespace {

std::string g_lines;  // written under the log's lock

void keepLine(std::string_view line) { g_lines.append(line); }

class LogOnFailure : public testing::EmptyTestEventListener {
 public:
  void OnTestStart(const testing::TestInfo&) override {
    capstan::log::setSink(nullptr);
    g_lines.clear();
    capstan::log::setSink(keepLine);
  }
  void OnTestEnd(const testing::TestInfo& info) override {
    capstan::log::setSink(nullptr);  // threads a test left behind log to stderr from here
    if (info.result()->Failed() && !g_lines.empty()) {
      std::fprintf(stderr, "---- log of %s.%s ----\n%s---- end of log ----\n", info.test_suite_name(), info.name(),
                   g_lines.c_str());
    }
    g_lines.clear();
  }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  // Everything is kept, as only a failed test's lines are printed.
  capstan::log::setLevel(capstan::log::Level::kDebug);
  testing::UnitTest::GetInstance()->listeners().Append(new LogOnFailure);
  return RUN_ALL_TESTS();
}
