#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "client.pb.h"
#include "net/net.h"
#include "test_frames.h"

namespace dynkv::net {
namespace {

// Every frame the decoder yields until it needs more bytes.
std::vector<std::string> Drain(FrameDecoder& decoder) {
  std::vector<std::string> frames;
  std::string_view payload;
  while (decoder.Next(&payload) == FrameDecoder::State::kFrame) frames.emplace_back(payload);
  return frames;
}

TEST_CASE("AppendFrame writes a big-endian length then the message") {
  client::Request request;
  request.set_id(7);
  request.mutable_get()->set_key("k");
  std::string out = "prefix";
  AppendFrame(&out, request);

  std::string body = request.SerializeAsString();
  REQUIRE(out.size() == 6 + kFrameHeaderBytes + body.size());
  CHECK(out.substr(0, 6) == "prefix");
  CHECK(out.substr(6) == Framed(body));
}

TEST_CASE("a message with no fields is an empty frame that decodes") {
  std::string out;
  AppendFrame(&out, client::DeleteResponse());
  CHECK(out == std::string(4, '\0'));

  FrameDecoder decoder(16);
  decoder.Append(out);
  std::string_view payload = "not empty";
  REQUIRE(decoder.Next(&payload) == FrameDecoder::State::kFrame);
  CHECK(payload.empty());
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kNeedMore);
}

TEST_CASE("a partial header or a partial body waits for more bytes") {
  FrameDecoder decoder(1024);
  std::string frame = Framed("hello");
  std::string_view payload;

  decoder.Append(frame.substr(0, 2));
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kNeedMore);
  decoder.Append(frame.substr(2, 4));  // header complete, 2 body bytes
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kNeedMore);
  decoder.Append(frame.substr(6));
  REQUIRE(decoder.Next(&payload) == FrameDecoder::State::kFrame);
  CHECK(payload == "hello");
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kNeedMore);
}

TEST_CASE("bytes fed one at a time give back every frame") {
  std::vector<std::string> sent = {"a", "", std::string(300, 'x'), "last"};
  std::string stream;
  for (const std::string& s : sent) stream += Framed(s);

  FrameDecoder decoder(1024);
  std::vector<std::string> got;
  for (char c : stream) {
    decoder.Append(std::string_view(&c, 1));
    for (std::string& frame : Drain(decoder)) got.push_back(std::move(frame));
  }
  CHECK(got == sent);
}

TEST_CASE("many frames in one chunk come out in order") {
  std::vector<std::string> sent;
  std::string stream;
  for (int i = 0; i < 1000; ++i) {
    sent.push_back("frame-" + std::to_string(i));
    stream += Framed(sent.back());
  }
  FrameDecoder decoder(1024);
  decoder.Append(stream);
  CHECK(Drain(decoder) == sent);
}

TEST_CASE("WritableSpace and Commit, as libuv uses them, split chunks anywhere") {
  // Seeded: a failure prints the seed so it can be replayed.
  const uint32_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 random(seed);

  std::vector<std::string> sent;
  std::string stream;
  for (int i = 0; i < 200; ++i) {
    sent.emplace_back(random() % 700, static_cast<char>('a' + i % 26));
    stream += Framed(sent.back());
  }
  FrameDecoder decoder(1024);
  std::vector<std::string> got;
  size_t offset = 0;
  while (offset < stream.size()) {
    size_t capacity = 0;
    char* space = decoder.WritableSpace(64, &capacity);
    REQUIRE(capacity >= 64);
    size_t n = std::min<size_t>({stream.size() - offset, capacity, 1 + random() % 900});
    std::copy_n(stream.data() + offset, n, space);
    decoder.Commit(n);
    offset += n;
    for (std::string& frame : Drain(decoder)) got.push_back(std::move(frame));
  }
  CHECK(got == sent);
}

TEST_CASE("a frame announcing more than the limit is kTooLarge") {
  FrameDecoder decoder(100);
  decoder.Append(Framed("ok"));
  decoder.Append(std::string("\x00\x00\x01\x00", 4));  // announces 256 bytes
  std::string_view payload;
  REQUIRE(decoder.Next(&payload) == FrameDecoder::State::kFrame);
  CHECK(payload == "ok");
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kTooLarge);
  CHECK(decoder.announced_bytes() == 256);
  CHECK(decoder.max_frame_bytes() == 100);
  // The stream cannot go on: the decoder keeps saying so.
  decoder.Append("more");
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kTooLarge);
}

TEST_CASE("a frame of exactly the limit is accepted") {
  FrameDecoder decoder(100);
  decoder.Append(Framed(std::string(100, 'z')));
  std::string_view payload;
  REQUIRE(decoder.Next(&payload) == FrameDecoder::State::kFrame);
  CHECK(payload.size() == 100);
}

TEST_CASE("the largest announcement a header can carry is kTooLarge, not a crash") {
  FrameDecoder decoder(64u << 20);
  decoder.Append(std::string("\xff\xff\xff\xff", 4));
  std::string_view payload;
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kTooLarge);
  CHECK(decoder.announced_bytes() == 0xffffffffu);
}

TEST_CASE("random bytes never crash the decoder") {
  const uint32_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 random(seed);
  for (int round = 0; round < 200; ++round) {
    FrameDecoder decoder(1 + random() % 512);
    std::string_view payload;
    FrameDecoder::State state = FrameDecoder::State::kNeedMore;
    for (int chunk = 0; chunk < 20 && state != FrameDecoder::State::kTooLarge; ++chunk) {
      std::string bytes(random() % 64, '\0');
      for (char& c : bytes) c = static_cast<char>(random() % 4 == 0 ? random() : 0);
      decoder.Append(bytes);
      while ((state = decoder.Next(&payload)) == FrameDecoder::State::kFrame) {
        CHECK(payload.size() <= decoder.max_frame_bytes());
      }
    }
  }
}

TEST_CASE("reading whole frames reuses one buffer") {
  FrameDecoder decoder(4096);
  std::string frames = Framed(std::string(1000, 'q')) + Framed("tail");
  char* first = nullptr;
  for (int i = 0; i < 100; ++i) {
    size_t capacity = 0;
    char* space = decoder.WritableSpace(65536, &capacity);
    if (first == nullptr) first = space;
    CHECK(space == first);  // same memory every time: nothing reallocated
    std::copy(frames.begin(), frames.end(), space);
    decoder.Commit(frames.size());
    CHECK(Drain(decoder).size() == 2);
  }
}

// Slowloris (issue 14): the memory a partial frame holds follows the bytes
// that came, not the length its header announces.
TEST_CASE("a header announcing a large frame grows the room only with the bytes that come") {
  FrameDecoder decoder(64u << 20);
  const std::string header("\x02\x00\x00\x00", 4);  // 32 MiB announced
  decoder.Append(header + "ten bytes!");
  size_t capacity = 0;
  decoder.WritableSpace(16384, &capacity);
  CHECK(capacity < 64 * 1024);
  std::string_view payload;
  CHECK(decoder.Next(&payload) == FrameDecoder::State::kNeedMore);
  CHECK(decoder.buffered_bytes() == 14);
  CHECK(decoder.bytes_received() == 14);
}

TEST_CASE("a large frame still arrives whole, in reads that at most double the room") {
  FrameDecoder decoder(8u << 20);
  const std::string body(5u << 20, 'v');
  const std::string stream = Framed(body);
  size_t offset = 0;
  int reads = 0;
  while (offset < stream.size()) {
    size_t capacity = 0;
    char* space = decoder.WritableSpace(16384, &capacity);
    CHECK(capacity <= 2 * (offset + 16384));
    const size_t n = std::min(capacity, stream.size() - offset);
    std::copy_n(stream.begin() + static_cast<long>(offset), n, space);
    decoder.Commit(n);
    offset += n;
    ++reads;
  }
  CHECK(reads < 20);
  std::string_view payload;
  REQUIRE(decoder.Next(&payload) == FrameDecoder::State::kFrame);
  CHECK(payload == body);
  CHECK(decoder.buffered_bytes() == 0);
  CHECK(decoder.bytes_received() == stream.size());
}

TEST_CASE("the room of a frame over 1 MiB is let go once it is consumed") {
  FrameDecoder decoder(8u << 20);
  decoder.Append(Framed(std::string(3u << 20, 'x')));
  CHECK(Drain(decoder).size() == 1);
  // The next read starts from a small buffer again.
  size_t capacity = 0;
  decoder.WritableSpace(16384, &capacity);
  CHECK(capacity < (1u << 20));
}

}  // namespace
}  // namespace dynkv::net
