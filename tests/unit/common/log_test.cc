// LogThrottle: a flood of one kind of line costs one line per interval.
#include "common/log.h"

#include <doctest/doctest.h>

namespace dynkv {
namespace {

TEST_CASE("the first line of a kind passes, the rest of its interval are counted") {
  LogThrottle throttle(60'000);
  uint64_t suppressed = 99;
  CHECK(throttle.Admit("wire_format_lite.cc:581", 1'000, &suppressed));
  CHECK(suppressed == 0);
  for (int i = 0; i < 1000; ++i)
    CHECK_FALSE(throttle.Admit("wire_format_lite.cc:581", 1'000 + i, &suppressed));
  CHECK_FALSE(throttle.Admit("wire_format_lite.cc:581", 60'999, &suppressed));
  CHECK(throttle.Admit("wire_format_lite.cc:581", 61'000, &suppressed));
  CHECK(suppressed == 1001);
  CHECK_FALSE(throttle.Admit("wire_format_lite.cc:581", 61'001, &suppressed));
}

TEST_CASE("kinds are throttled apart") {
  LogThrottle throttle(60'000);
  uint64_t suppressed = 0;
  CHECK(throttle.Admit("a", 0, &suppressed));
  CHECK(throttle.Admit("b", 0, &suppressed));
  CHECK_FALSE(throttle.Admit("a", 1, &suppressed));
  CHECK_FALSE(throttle.Admit("b", 1, &suppressed));
}

}  // namespace
}  // namespace dynkv
