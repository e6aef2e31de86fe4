#include "agent/streaming/spdy_codec.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace capstan::agent::streaming::spdy {
namespace {

TEST(SpdyCodecTest, DictionaryIsTheSpecs) {
  EXPECT_EQ(kHeaderDictionarySize, 1423u);
  EXPECT_EQ(adler32(adler32(0, nullptr, 0), kHeaderDictionary, kHeaderDictionarySize), 0xe3c6a7c2u);
}

TEST(SpdyCodecTest, RoundTripsFrames) {
  FrameEncoder enc;
  FrameDecoder dec;
  std::string wire;
  wire += enc.synStream(1, {{"streamtype", "error"}}, false);
  wire += enc.synStream(3, {{"streamtype", "stdout"}, {"port", "80"}}, false);
  wire += enc.data(3, "hello", false);
  wire += enc.data(3, "", true);
  wire += enc.synReply(5, {{"a", "b"}}, true);
  wire += enc.rstStream(7, kRstCancel);
  wire += enc.ping(9);
  wire += enc.windowUpdate(3, 1000);
  wire += enc.goAway(3, 0);
  // Fed a byte at a time: frames come out whole, in order.
  std::vector<Frame> frames;
  for (char c : wire) ASSERT_TRUE(dec.feed(std::string_view(&c, 1), &frames));
  ASSERT_EQ(frames.size(), 9u);
  EXPECT_EQ(frames[0].type, FrameType::kSynStream);
  EXPECT_EQ(frames[0].stream_id, 1u);
  EXPECT_EQ(headerValue(frames[0].headers, "streamtype"), "error");
  EXPECT_EQ(headerValue(frames[1].headers, "streamtype"), "stdout");
  EXPECT_EQ(headerValue(frames[1].headers, "port"), "80");
  EXPECT_EQ(frames[2].type, FrameType::kData);
  EXPECT_EQ(frames[2].data, "hello");
  EXPECT_FALSE(frames[2].fin());
  EXPECT_TRUE(frames[3].fin());
  EXPECT_EQ(frames[4].type, FrameType::kSynReply);
  EXPECT_TRUE(frames[4].fin());
  EXPECT_EQ(frames[5].type, FrameType::kRstStream);
  EXPECT_EQ(frames[5].status, kRstCancel);
  EXPECT_EQ(frames[6].type, FrameType::kPing);
  EXPECT_EQ(frames[6].value, 9u);
  EXPECT_EQ(frames[7].type, FrameType::kWindowUpdate);
  EXPECT_EQ(frames[7].value, 1000u);
  EXPECT_EQ(frames[8].type, FrameType::kGoAway);
}

TEST(SpdyCodecTest, MultiValueHeadersAreSplit) {
  FrameEncoder enc;
  FrameDecoder dec;
  std::vector<Frame> frames;
  ASSERT_TRUE(dec.feed(enc.synStream(1, {{"x", std::string("a\0b", 3)}}, false), &frames));
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_EQ(frames[0].headers.size(), 2u);
  EXPECT_EQ(frames[0].headers[1].second, "b");
}

TEST(SpdyCodecTest, RejectsGarbageWithoutCrashing) {
  std::mt19937 rng(42);
  for (int i = 0; i < 200; ++i) {
    std::string junk(1 + rng() % 200, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    // A control frame header with version 3 and a random type and body.
    std::string frame = std::string("\x80\x03\x00", 3) + static_cast<char>(1 + rng() % 9) + '\0' + '\0' +
                        static_cast<char>(junk.size() >> 8) + static_cast<char>(junk.size() & 0xff) + junk;
    FrameDecoder dec;
    std::vector<Frame> frames;
    (void)dec.feed(frame, &frames);
    (void)dec.feed(junk, &frames);
  }
  FrameDecoder dec;
  std::vector<Frame> frames;
  EXPECT_FALSE(dec.feed(std::string("\x80\x02\x00\x01\x00\x00\x00\x00", 8), &frames));  // SPDY/2
}

}  // namespace
}  // namespace capstan::agent::streaming::spdy
