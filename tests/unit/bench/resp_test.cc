#include "bench/resp.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

namespace dynkv::bench {

TEST_CASE("commands are arrays of bulk strings") {
  std::string out;
  AppendCommand(&out, "GET", "key:1");
  CHECK(out == "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");
  out.clear();
  AppendCommand(&out, "SET", "k", std::string(12, 'v'));
  CHECK(out == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nvvvvvvvvvvvv\r\n");
}

TEST_CASE("each reply kind is read with its length") {
  RespReply reply;
  size_t consumed = 0;
  REQUIRE(ParseReply("+OK\r\n+OK\r\n", &reply, &consumed) == ParseState::kReply);
  CHECK(reply.kind == RespReply::Kind::kSimple);
  CHECK(consumed == 5);
  REQUIRE(ParseReply("-WRONGTYPE Operation against a key\r\n", &reply, &consumed) == ParseState::kReply);
  CHECK(reply.kind == RespReply::Kind::kError);
  CHECK(reply.error_code == "WRONGTYPE");
  REQUIRE(ParseReply(":1\r\n", &reply, &consumed) == ParseState::kReply);
  CHECK(reply.kind == RespReply::Kind::kInteger);
  REQUIRE(ParseReply("$-1\r\n", &reply, &consumed) == ParseState::kReply);
  CHECK(reply.kind == RespReply::Kind::kNil);
  CHECK(consumed == 5);
  REQUIRE(ParseReply("$3\r\nabc\r\n:5\r\n", &reply, &consumed) == ParseState::kReply);
  CHECK(reply.kind == RespReply::Kind::kBulk);
  CHECK(consumed == 9);
}

TEST_CASE("a partial reply asks for more") {
  RespReply reply;
  size_t consumed = 0;
  for (std::string_view partial : {"", "+OK", "+OK\r", "$3\r\nab", "$3\r\nabc", "$3\r\nabc\r", "$10"}) {
    CAPTURE(partial);
    CHECK(ParseReply(partial, &reply, &consumed) == ParseState::kNeedMore);
  }
}

TEST_CASE("replies these commands never send are rejected") {
  RespReply reply;
  size_t consumed = 0;
  for (std::string_view bad : {"*1\r\n$1\r\na\r\n", "$abc\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "\r\n",
                               "hello\r\n", "$99999999999\r\n"}) {
    CAPTURE(bad);
    CHECK(ParseReply(bad, &reply, &consumed) == ParseState::kBad);
  }
  CHECK(ParseReply(std::string(2000, 'x'), &reply, &consumed) == ParseState::kBad);
}

TEST_CASE("arbitrary bytes never read past the input") {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    const std::string alphabet = "+-:$*\r\n0123-1abc";
    for (int i = 0; i < 20000; ++i) {
      std::string bytes(random() % 16, ' ');
      for (char& c : bytes) c = alphabet[random() % alphabet.size()];
      RespReply reply;
      size_t consumed = 0;
      if (ParseReply(bytes, &reply, &consumed) == ParseState::kReply) {
        CHECK(consumed > 0);
        CHECK(consumed <= bytes.size());
      }
    }
  }
}

}  // namespace dynkv::bench
