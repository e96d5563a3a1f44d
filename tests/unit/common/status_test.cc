#include "common/status.h"

#include <doctest/doctest.h>

namespace dynkv {

TEST_CASE("a default Status is OK and prints as OK") {
  Status s;
  CHECK(s.ok());
  CHECK(s.ToString() == "OK");
}

TEST_CASE("an error Status names its code and keeps its message") {
  Status s = Status::TooLarge("value is 5000000 bytes, limit 4194304");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Code::kTooLarge);
  CHECK(s.ToString() == "TOO_LARGE: value is 5000000 bytes, limit 4194304");
  CHECK(s.WithContext("put k").message() == "put k: value is 5000000 bytes, limit 4194304");
}

TEST_CASE("a Result holds either a value or an error") {
  Result<int> good = 7;
  REQUIRE(good.ok());
  CHECK(*good == 7);
  Result<int> bad = Status::Timeout("1 of 2 replicas answered");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kTimeout);
}

}  // namespace dynkv
