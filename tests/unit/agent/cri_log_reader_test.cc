#include "agent/streaming/cri_log_reader.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace capstan::agent::streaming {
namespace {

const std::string kLog =
    "2016-10-06T00:17:09.000000001Z stdout F one\n"
    "2016-10-06T00:17:10.000000002Z stderr P tw\n"
    "2016-10-06T00:17:10.500000000Z stderr F o\n"
    "garbage line\n"
    "2016-10-06T00:17:11.000000003Z stdout F \n"
    "2016-10-06T00:17:12.000000004Z stdout F four\n";

std::string format(const LogOptions& o, std::string_view data) {
  LogFormatter f(o);
  std::string out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (!f.feed(data.substr(pos, nl - pos), &out)) break;
    pos = nl + 1;
  }
  return out;
}

Result<LogOptions> parse(std::map<std::string, std::string> q) {
  return parseLogOptions(
      [&](std::string_view k) -> std::optional<std::string> {
        auto it = q.find(std::string(k));
        if (it == q.end()) return std::nullopt;
        return it->second;
      },
      *parseRfc3339("2016-10-06T00:17:12Z"));
}

TEST(CriLogReaderTest, ParsesRecords) {
  auto r = parseCriRecord("2016-10-06T00:17:09.669794202Z stdout F a message");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stream, "stdout");
  EXPECT_FALSE(r->partial);
  EXPECT_EQ(r->content, "a message");
  auto empty = parseCriRecord("2016-10-06T00:17:09.669794202Z stdout F");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->content, "");
  EXPECT_FALSE(parseCriRecord("nonsense"));
  EXPECT_FALSE(parseCriRecord("2016-10-06T00:17:09Z stdout X y"));
  EXPECT_FALSE(parseCriRecord("notatime stdout F y"));
  EXPECT_FALSE(parseCriRecord(""));
}

TEST(CriLogReaderTest, JoinsPartialLines) {
  EXPECT_EQ(format({}, kLog), "one\ntwo\n\nfour\n");
}

TEST(CriLogReaderTest, Timestamps) {
  LogOptions o;
  o.timestamps = true;
  EXPECT_EQ(format(o, kLog),
            "2016-10-06T00:17:09.000000001Z one\n"
            "2016-10-06T00:17:10.000000002Z two\n"
            "2016-10-06T00:17:11.000000003Z \n"
            "2016-10-06T00:17:12.000000004Z four\n");
}

TEST(CriLogReaderTest, Since) {
  auto o = parse({{"sinceSeconds", "1"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(format(*o, kLog), "\nfour\n");
  // A joined line is kept or dropped by its first record's time.
  o = parse({{"sinceTime", "2016-10-06T00:17:10Z"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(format(*o, kLog), "two\n\nfour\n");
  o = parse({{"sinceTime", "2016-10-06T00:17:10.2Z"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(format(*o, kLog), "\nfour\n");
}

TEST(CriLogReaderTest, LimitBytes) {
  LogOptions o;
  o.limit_bytes = 6;
  EXPECT_EQ(format(o, kLog), "one\ntw");
  o.limit_bytes = 4;
  EXPECT_EQ(format(o, kLog), "one\n");
}

TEST(CriLogReaderTest, Tail) {
  EXPECT_EQ(format({}, std::string_view(kLog).substr(tailOffset(kLog, 1))), "four\n");
  EXPECT_EQ(format({}, std::string_view(kLog).substr(tailOffset(kLog, 2))), "\nfour\n");
  EXPECT_EQ(format({}, std::string_view(kLog).substr(tailOffset(kLog, 3))), "two\n\nfour\n");
  EXPECT_EQ(tailOffset(kLog, 4), 0u);
  EXPECT_EQ(tailOffset(kLog, 100), 0u);
  EXPECT_EQ(tailOffset(kLog, 0), kLog.size());
  EXPECT_EQ(tailOffset("", 3), 0u);
}

TEST(CriLogReaderTest, ParsesOptions) {
  auto o = parse({{"follow", "true"}, {"tailLines", "10"}, {"limitBytes", "5"}, {"timestamps", "true"},
                  {"previous", "false"}});
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->follow);
  EXPECT_TRUE(o->timestamps);
  EXPECT_FALSE(o->previous);
  EXPECT_EQ(o->tail_lines, 10);
  EXPECT_EQ(o->limit_bytes, 5);
  EXPECT_FALSE(parse({{"tailLines", "-1"}}));
  EXPECT_FALSE(parse({{"tailLines", "x"}}));
  EXPECT_FALSE(parse({{"limitBytes", "0"}}));
  EXPECT_FALSE(parse({{"sinceSeconds", "0"}}));
  EXPECT_FALSE(parse({{"sinceTime", "yesterday"}}));
  auto both = parse({{"sinceTime", "2016-10-06T00:17:10Z"}, {"sinceSeconds", "3"}});
  ASSERT_FALSE(both);
  EXPECT_EQ(both.status().code(), Code::kBadRequest);
}

TEST(CriLogReaderTest, HugeLineWithoutNewlineDoesNotCrash) {
  std::string big(1 << 20, 'x');
  EXPECT_EQ(format({}, big + "\n"), "");
  EXPECT_EQ(tailOffset(big, 3), big.size());
}

}  // namespace
}  // namespace capstan::agent::streaming
