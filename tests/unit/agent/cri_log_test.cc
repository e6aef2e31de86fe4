#include "agent/runtime/cri_log.h"

#include <gtest/gtest.h>

#include <string>

namespace capstan::agent::runtime {
namespace {

void sink(void* ctx, const char* data, size_t n) { static_cast<std::string*>(ctx)->append(data, n); }

TEST(CriLogTest, Timestamp) {
  char buf[kCriTimestampLen + 1] = {};
  formatCriTimestamp(buf, 1475713029, 669794202);
  EXPECT_EQ(std::string(buf), "2016-10-06T00:17:09.669794202Z");
  formatCriTimestamp(buf, 0, 5);
  EXPECT_EQ(std::string(buf), "1970-01-01T00:00:00.000000005Z");
  formatCriTimestamp(buf, 951782400, 0);  // leap day
  EXPECT_EQ(std::string(buf), "2000-02-29T00:00:00.000000000Z");
}

TEST(CriLogTest, SplitsLinesAcrossChunks) {
  std::string out;
  CriStream s("stdout", sink, &out);
  s.feed("hel", 3, 0, 0);
  s.feed("lo\nwor", 6, 0, 0);
  s.feed("ld\n\n", 4, 0, 0);
  s.feed("tail", 4, 0, 0);
  s.flush(0, 0);
  const std::string ts = "1970-01-01T00:00:00.000000000Z";
  EXPECT_EQ(out, ts + " stdout F hello\n" + ts + " stdout F world\n" + ts + " stdout F \n" + ts + " stdout F tail\n");
}

TEST(CriLogTest, LongLinesArePartial) {
  std::string out;
  CriStream s("stderr", sink, &out);
  std::string line(kCriMaxLine + 10, 'x');
  line += '\n';
  s.feed(line.data(), line.size(), 0, 0);
  const std::string ts = "1970-01-01T00:00:00.000000000Z";
  EXPECT_EQ(out, ts + " stderr P " + std::string(kCriMaxLine, 'x') + "\n" + ts + " stderr F xxxxxxxxxx\n");
  out.clear();
  std::string exact(kCriMaxLine, 'y');
  exact += '\n';
  s.feed(exact.data(), exact.size(), 0, 0);
  EXPECT_EQ(out, ts + " stderr F " + std::string(kCriMaxLine, 'y') + "\n");
}

}  // namespace
}  // namespace capstan::agent::runtime
