#include <doctest/doctest.h>

#include "client/client.h"

namespace dynkv::client {
namespace {

TEST_CASE("ParseQuorum knows the named levels and counts") {
  CHECK(*ParseQuorum("default") == kDefault);
  CHECK(*ParseQuorum("one") == kOne);
  CHECK(*ParseQuorum("quorum") == kQuorum);
  CHECK(*ParseQuorum("all") == kAll);
  CHECK(*ParseQuorum("0") == 0);
  CHECK(*ParseQuorum("3") == 3);
}

TEST_CASE("ParseQuorum rejects anything else") {
  for (const char* text : {"", "two", "QUORUM ", "-1", "+2", "3x", "4294967292", "99999999999"}) {
    CAPTURE(text);
    Result<uint32_t> parsed = ParseQuorum(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("StatusFromError maps every wire code onto its Code and keeps the message") {
  struct Case {
    ErrorCode wire;
    Code code;
  };
  for (const Case& c :
       {Case{INVALID_ARGUMENT, Code::kInvalidArgument}, Case{TOO_LARGE, Code::kTooLarge},
        Case{UNAVAILABLE, Code::kUnavailable}, Case{TIMEOUT, Code::kTimeout},
        Case{OVERLOADED, Code::kOverloaded}, Case{STORAGE_ERROR, Code::kStorageError},
        Case{UNAUTHENTICATED, Code::kUnauthenticated}, Case{INTERNAL, Code::kInternal},
        Case{ERROR_CODE_UNSPECIFIED, Code::kInternal}, Case{static_cast<ErrorCode>(77), Code::kInternal}}) {
    CAPTURE(static_cast<int>(c.wire));
    Error error;
    error.set_code(c.wire);
    error.set_message("2 of 3 answered");
    Status status = StatusFromError(error);
    CHECK(status.code() == c.code);
    CHECK(status.message() == "2 of 3 answered");
  }
}

TEST_CASE("the builders fill in every option") {
  Request get = MakeGet("k", ReadOptions{.r = kQuorum, .timeout_ms = 20});
  REQUIRE(get.has_get());
  CHECK(get.get().key() == "k");
  CHECK(get.get().r() == kQuorum);
  CHECK(get.get().timeout_ms() == 20);

  WriteOptions write{.w = 2, .ttl_s = 60, .context = "ctx", .timeout_ms = 30};
  Request put = MakePut("k", std::string("v\0v", 3), write);
  REQUIRE(put.has_put());
  CHECK(put.put().key() == "k");
  CHECK(put.put().value() == std::string("v\0v", 3));
  CHECK(put.put().context() == "ctx");
  CHECK(put.put().w() == 2);
  CHECK(put.put().ttl_s() == 60);
  CHECK(put.put().timeout_ms() == 30);

  Request del = MakeDelete("k", write);
  REQUIRE(del.has_delete_());
  CHECK(del.delete_().key() == "k");
  CHECK(del.delete_().context() == "ctx");
  CHECK(del.delete_().w() == 2);
  CHECK(del.delete_().timeout_ms() == 30);

  CHECK(MakePing().has_ping());
  CHECK(MakeStats().has_stats());
}

}  // namespace
}  // namespace dynkv::client
