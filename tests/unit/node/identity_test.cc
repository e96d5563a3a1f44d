// node::LoadOrCreateIdentity and StoreTokens over a real LevelDB data dir,
// reopened as a restarted node would reopen it.
#include "node/identity.h"

#include <doctest/doctest.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../storage/temp_dir.h"
#include "storage/storage.h"

namespace dynkv::node {
namespace {

using storage::TempDir;

constexpr int64_t kNow = 1'700'000'000'000;

std::unique_ptr<storage::Engine> Open(const std::string& data_dir) {
  storage::Options options;
  options.data_dir = data_dir;
  auto engine = storage::OpenLevelDbEngine(options);
  REQUIRE(engine.ok());
  return std::move(*engine);
}

// One start of a node on `data_dir`: opens, loads, closes.
Result<Identity> Start(const std::string& data_dir, const std::string& node_id, int64_t now_ms,
                       uint64_t random) {
  auto engine = Open(data_dir);
  return LoadOrCreateIdentity(*engine, node_id, data_dir, now_ms, random);
}

std::string EpochOf(const ActorId& actor, const std::string& node_id) {
  REQUIRE(actor.rfind(node_id + ".", 0) == 0);
  return actor.substr(node_id.size() + 1);
}

bool IsHex(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

TEST_CASE("a fresh data dir gets an epoch from the given random value and actor <node_id>.<epoch>") {
  TempDir dir;
  auto identity = Start(dir.Sub("a"), "n1", kNow, 0x1234'5678'9abc'def0ull);
  REQUIRE(identity.ok());
  const std::string epoch = EpochOf(identity->actor, "n1");
  CHECK(IsHex(epoch));
  CHECK(identity->generation == static_cast<uint64_t>(kNow));
  CHECK(identity->tokens.empty());

  // The epoch is a function of the random value: the same value gives the
  // same epoch in another fresh dir, another value another epoch.
  auto same = Start(dir.Sub("b"), "n1", kNow, 0x1234'5678'9abc'def0ull);
  auto other = Start(dir.Sub("c"), "n1", kNow, 0x0000'0000'cafe'f00dull);
  REQUIRE(same.ok());
  REQUIRE(other.ok());
  CHECK(same->actor == identity->actor);
  CHECK(other->actor != identity->actor);
  CHECK(IsHex(EpochOf(other->actor, "n1")));
}

TEST_CASE("reopening a data dir keeps its epoch, whatever random value comes") {
  TempDir dir;
  auto first = Start(dir.path(), "n1", kNow, 111);
  REQUIRE(first.ok());
  auto second = Start(dir.path(), "n1", kNow + 60'000, 222);
  REQUIRE(second.ok());
  CHECK(second->actor == first->actor);
}

TEST_CASE("a wiped data dir gets a new epoch, so counters are never reused") {
  TempDir dir;
  auto before = Start(dir.path(), "n1", kNow, 0xaaaa'0000'1111'2222ull);
  REQUIRE(before.ok());
  std::filesystem::remove_all(dir.path());  // the disk was lost
  auto after = Start(dir.path(), "n1", kNow + 1'000, 0x3333'4444'bbbb'ccccull);
  REQUIRE(after.ok());
  CHECK(after->actor != before->actor);
  CHECK(EpochOf(after->actor, "n1") != EpochOf(before->actor, "n1"));
}

TEST_CASE("a renewed epoch differs from the last, is stored, and the next start keeps it") {
  TempDir dir;
  auto first = Start(dir.path(), "n1", kNow, 0x1111'2222'3333'4444ull);
  REQUIRE(first.ok());
  ActorId renewed;
  {
    auto engine = Open(dir.path());
    // The same random value as the epoch it replaces: still a new epoch.
    auto actor = RenewEpoch(*engine, "n1", 0x1111'2222'3333'4444ull);
    REQUIRE(actor.ok());
    renewed = *actor;
  }
  CHECK(renewed != first->actor);
  CHECK(IsHex(EpochOf(renewed, "n1")));
  auto restarted = Start(dir.path(), "n1", kNow + 1'000, 999);
  REQUIRE(restarted.ok());
  CHECK(restarted->actor == renewed);
}

TEST_CASE("the generation grows on every start, even when the clock goes back") {
  TempDir dir;
  auto first = Start(dir.path(), "n1", kNow, 1);
  REQUIRE(first.ok());
  CHECK(first->generation == static_cast<uint64_t>(kNow));

  auto same_ms = Start(dir.path(), "n1", kNow, 1);  // restarted within the same ms
  REQUIRE(same_ms.ok());
  CHECK(same_ms->generation > first->generation);

  auto clock_back = Start(dir.path(), "n1", kNow - 3'600'000, 1);  // the clock was set back an hour
  REQUIRE(clock_back.ok());
  CHECK(clock_back->generation > same_ms->generation);

  auto later = Start(dir.path(), "n1", kNow + 10'000, 1);
  REQUIRE(later.ok());
  CHECK(later->generation == static_cast<uint64_t>(kNow + 10'000));
  CHECK(later->generation > clock_back->generation);
}

TEST_CASE("a data dir of another node id is refused with a message naming both") {
  TempDir dir;
  REQUIRE(Start(dir.path(), "alpha", kNow, 1).ok());
  auto wrong = Start(dir.path(), "beta", kNow, 2);
  REQUIRE(!wrong.ok());
  CHECK(wrong.status().code() == Code::kInvalidArgument);
  const std::string& message = wrong.status().message();
  CHECK(message.find("alpha") != std::string::npos);
  CHECK(message.find("beta") != std::string::npos);
  CHECK(message.find(dir.path()) != std::string::npos);

  // Refused without harm: the right node still starts there with its epoch.
  auto again = Start(dir.path(), "alpha", kNow, 3);
  REQUIRE(again.ok());
  CHECK(again->actor.rfind("alpha.", 0) == 0);
}

TEST_CASE("stored tokens come back on the next start") {
  TempDir dir;
  const std::vector<uint64_t> tokens = {7, 0x8000'0000'0000'0000ull, 42, 0xffff'ffff'ffff'ffffull};
  {
    auto engine = Open(dir.path());
    auto identity = LoadOrCreateIdentity(*engine, "n1", dir.path(), kNow, 1);
    REQUIRE(identity.ok());
    CHECK(identity->tokens.empty());
    REQUIRE(StoreTokens(*engine, tokens).ok());
  }
  auto identity = Start(dir.path(), "n1", kNow + 1, 2);
  REQUIRE(identity.ok());
  CHECK(identity->tokens == std::vector<uint64_t>{7, 42, 0x8000'0000'0000'0000ull, 0xffff'ffff'ffff'ffffull});
}

TEST_CASE("unreadable stored tokens fail the start with a message naming the data dir") {
  TempDir dir;
  {
    auto engine = Open(dir.path());
    REQUIRE(LoadOrCreateIdentity(*engine, "n1", dir.path(), kNow, 1).ok());
    REQUIRE(engine->PutMeta("tokens", "not tokens").ok());
  }
  auto identity = Start(dir.path(), "n1", kNow + 1, 2);
  REQUIRE(!identity.ok());
  CHECK(identity.status().message().find(dir.path()) != std::string::npos);
}

}  // namespace
}  // namespace dynkv::node
