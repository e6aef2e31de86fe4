#include "agent/runtime/cri_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
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

class RotatingLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("capstan-rotating-log-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "0.log").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string read(const std::string& suffix) {
    std::ifstream f(path_ + suffix);
    if (!f) return "<none>";
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(RotatingLogTest, RotatesBeforeARecordWouldPassTheLimitAndDropsTheOldest) {
  RotatingLog log;
  ASSERT_TRUE(log.prepare(path_.c_str(), 10, 3));  // current + 2 rotated
  ASSERT_TRUE(log.open());
  for (const char* rec : {"aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n"})
    log.write(rec, 5);
  log.close();
  // Two records per file; the first file (aaaa, bbbb) was dropped.
  EXPECT_EQ(read(""), "gggg\n");
  EXPECT_EQ(read(".1"), "eeee\nffff\n");
  EXPECT_EQ(read(".2"), "cccc\ndddd\n");
  EXPECT_EQ(read(".3"), "<none>");
}

TEST_F(RotatingLogTest, ARecordLargerThanTheLimitIsNeverSplit) {
  RotatingLog log;
  ASSERT_TRUE(log.prepare(path_.c_str(), 8, 2));
  ASSERT_TRUE(log.open());
  log.write("ab\n", 3);
  std::string big(20, 'x');
  log.write(big.data(), big.size());
  log.write("cd\n", 3);
  log.close();
  EXPECT_EQ(read(".1"), big);
  EXPECT_EQ(read(""), "cd\n");
}

TEST_F(RotatingLogTest, ReopeningCountsWhatTheFileHolds) {
  {
    std::ofstream f(path_);
    f << "123456789";  // 9 bytes already there (a restarted shim's predecessor)
  }
  RotatingLog log;
  ASSERT_TRUE(log.prepare(path_.c_str(), 10, 2));
  ASSERT_TRUE(log.open());
  log.write("zz\n", 3);  // 12 > 10: rotates first
  log.close();
  EXPECT_EQ(read(".1"), "123456789");
  EXPECT_EQ(read(""), "zz\n");
}

TEST_F(RotatingLogTest, ZeroLimitNeverRotates) {
  RotatingLog log;
  ASSERT_TRUE(log.prepare(path_.c_str(), 0, 5));
  ASSERT_TRUE(log.open());
  for (int i = 0; i < 100; ++i) log.write("line\n", 5);
  log.close();
  EXPECT_EQ(read("").size(), 500u);
  EXPECT_EQ(read(".1"), "<none>");
}

}  // namespace
}  // namespace capstan::agent::runtime
