// HintDelivery: the pure core, driven over simulated time.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "handoff/handoff.h"

namespace dynkv::handoff {
namespace {

constexpr int64_t kT0 = 1'000'000;
constexpr uint64_t kKiB = 1024;

DeliveryOptions Unthrottled() {
  DeliveryOptions options;
  options.max_bytes_per_sec = 0;
  return options;
}

using Targets = std::vector<std::string>;

TEST_CASE("batches go only to targets that are up and have hints") {
  HintDelivery delivery(Unthrottled());
  delivery.OnHintStored("a");
  delivery.OnHintStored("b");
  CHECK(delivery.Tick(kT0).empty());  // both down
  delivery.OnUp("a");
  CHECK(delivery.Tick(kT0) == Targets{"a"});
  delivery.OnBatchSent("a", 100, kT0);
  delivery.OnBatchAcked("a", true);
  delivery.OnDown("a");
  CHECK(delivery.Tick(kT0 + 1).empty());
  delivery.OnUp("b");
  delivery.OnUp("a");
  CHECK(delivery.Tick(kT0 + 2) == Targets{"b", "a"});  // round robin: after "a", granted last
}

TEST_CASE("at most one batch is in flight per target") {
  HintDelivery delivery(Unthrottled());
  delivery.OnUp("a");
  CHECK(delivery.Tick(kT0) == Targets{"a"});
  CHECK(delivery.InFlight("a"));
  CHECK(delivery.Tick(kT0 + 1).empty());
  delivery.OnBatchSent("a", 10, kT0 + 1);
  delivery.OnHintStored("a");
  CHECK(delivery.Tick(kT0 + 2).empty());
  delivery.OnBatchAcked("a", true);
  CHECK_FALSE(delivery.InFlight("a"));
  CHECK(delivery.Tick(kT0 + 3) == Targets{"a"});
}

TEST_CASE("a target with nothing pending idles until a hint is stored for it") {
  HintDelivery delivery(Unthrottled());
  delivery.OnUp("a");
  CHECK(delivery.Tick(kT0) == Targets{"a"});  // OnUp probes once
  delivery.OnBatchEmpty("a");
  for (int64_t t = 1; t < 100; ++t) CHECK(delivery.Tick(kT0 + t).empty());
  delivery.OnHintStored("a");
  CHECK(delivery.Tick(kT0 + 100) == Targets{"a"});
  delivery.OnBatchSent("a", 10, kT0 + 100);
  delivery.OnBatchAcked("a", false);
  CHECK(delivery.Tick(kT0 + 101).empty());

  SUBCASE("a hint stored while a batch is out keeps the target busy") {
    delivery.OnHintStored("a");
    CHECK(delivery.Tick(kT0 + 102) == Targets{"a"});
    delivery.OnHintStored("a");
    delivery.OnBatchSent("a", 10, kT0 + 103);
    delivery.OnBatchAcked("a", false);  // read before the new hint landed
    CHECK(delivery.Tick(kT0 + 104) == Targets{"a"});
  }
}

TEST_CASE("a failed batch is retried after a backoff that doubles up to the cap, and resets") {
  DeliveryOptions options = Unthrottled();
  options.retry_initial_ms = 1000;
  options.retry_max_ms = 4000;
  HintDelivery delivery(options);
  delivery.OnUp("a");
  int64_t now = kT0;
  REQUIRE(delivery.Tick(now) == Targets{"a"});
  for (int64_t expected : {1000, 2000, 4000, 4000}) {
    delivery.OnBatchFailed("a", now);
    CHECK(delivery.Tick(now + expected - 1).empty());
    now += expected;
    CHECK(delivery.Tick(now) == Targets{"a"});
  }
  delivery.OnBatchSent("a", 10, now);
  delivery.OnBatchAcked("a", true);
  REQUIRE(delivery.Tick(now) == Targets{"a"});
  delivery.OnBatchFailed("a", now);
  CHECK(delivery.Tick(now + 999).empty());
  CHECK(delivery.Tick(now + 1000) == Targets{"a"});

  SUBCASE("the target coming back up retries at once") {
    delivery.OnBatchFailed("a", now + 1000);
    delivery.OnDown("a");
    delivery.OnUp("a");
    CHECK(delivery.Tick(now + 1001) == Targets{"a"});
  }
}

// Simulates `seconds` of 10 ms ticks in which every granted batch is sent at
// once with batch_bytes and acknowledged with more to come; returns the
// batches sent in each simulated second.
std::vector<int> Simulate(HintDelivery& delivery, const Targets& targets, uint64_t batch_bytes, int seconds) {
  for (const std::string& target : targets) delivery.OnUp(target);
  std::vector<int> per_second(seconds, 0);
  for (int64_t ms = 0; ms < seconds * 1000; ms += 10) {
    for (const std::string& target : delivery.Tick(kT0 + ms)) {
      delivery.OnBatchSent(target, batch_bytes, kT0 + ms);
      delivery.OnBatchAcked(target, true);
      ++per_second[ms / 1000];
    }
  }
  return per_second;
}

TEST_CASE("hint bytes are throttled to max_bytes_per_sec across all targets") {
  DeliveryOptions options;
  options.max_bytes_per_sec = 1024 * kKiB;
  options.batch_max_bytes = 100 * kKiB;
  HintDelivery delivery(options);

  SUBCASE("one target") {
    const std::vector<int> per_second = Simulate(delivery, {"a"}, 100 * kKiB, 10);
    int total = 0;
    for (int batches : per_second) {
      CHECK(batches >= 9);
      CHECK(batches <= 12);  // 10.24 a second, plus the first second's burst
      total += batches;
    }
    CHECK(total >= 100);
    CHECK(total <= 104);
  }
  SUBCASE("three targets share the budget") {
    const std::vector<int> per_second = Simulate(delivery, {"a", "b", "c"}, 100 * kKiB, 10);
    int total = 0;
    for (int batches : per_second) total += batches;
    CHECK(total >= 100);
    CHECK(total <= 104);
  }
  SUBCASE("smaller batches than the limit: more of them, same bytes") {
    const std::vector<int> per_second = Simulate(delivery, {"a"}, 10 * kKiB, 10);
    int total = 0;
    for (int batches : per_second) total += batches;
    CHECK(total >= 1000);
    CHECK(total <= 1011);
  }
}

TEST_CASE("without a byte limit every ready target goes at every tick") {
  HintDelivery delivery(Unthrottled());
  const std::vector<int> per_second = Simulate(delivery, {"a", "b"}, 1 << 20, 1);
  CHECK(per_second[0] == 200);
}

TEST_CASE("a fetch that fails or comes back empty returns its share of the budget") {
  DeliveryOptions options;
  options.max_bytes_per_sec = 1024 * kKiB;
  options.batch_max_bytes = 100 * kKiB;
  HintDelivery delivery(options);
  delivery.OnUp("a");
  delivery.OnUp("b");
  CHECK(delivery.Tick(kT0).size() == 1);  // one batch's burst, reserved
  const std::string first = delivery.InFlight("a") ? "a" : "b";
  const std::string second = first == "a" ? "b" : "a";
  delivery.OnBatchEmpty(first);
  CHECK(delivery.Tick(kT0) == Targets{second});
  delivery.OnBatchFailed(second, kT0);
  delivery.OnHintStored(first);
  CHECK(delivery.Tick(kT0) == Targets{first});
}

}  // namespace
}  // namespace dynkv::handoff
