// Hints on the peer wire: ToHintBatch / FromHintBatch.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "handoff/handoff.h"

namespace dynkv::handoff {
namespace {

Object WithValue(const std::string& value) {
  Object object;
  object.vv = VersionVector({{"a", 2}, {"b", 1}});
  object.siblings = {Sibling{Dot{"a", 2}, false, value, 5, 0}, Sibling{Dot{"b", 1}, true, "", 6, 0}};
  return object;
}

TEST_CASE("hints go over the wire as their keys and objects, for the target itself") {
  const std::vector<Hint> hints = {{"n2", "k1", WithValue("x"), 1},
                                   {"n2", std::string("k\0", 2), WithValue("y"), 2}};
  peer::HintBatch batch;
  ToHintBatch(hints, &batch);
  REQUIRE(batch.writes_size() == 2);
  CHECK(batch.writes(0).hint_for().empty());

  peer::HintBatch received;
  REQUIRE(received.ParseFromString(batch.SerializeAsString()));
  auto writes = FromHintBatch(received);
  REQUIRE_MESSAGE(writes.ok(), writes.status().ToString());
  REQUIRE(writes->size() == 2);
  CHECK((*writes)[0].key == "k1");
  CHECK((*writes)[0].object == WithValue("x"));
  CHECK((*writes)[1].key == std::string("k\0", 2));
  CHECK((*writes)[1].object == WithValue("y"));
}

TEST_CASE("a hint batch with a malformed or empty object is refused") {
  peer::HintBatch batch;
  const std::vector<Hint> hints = {{"n2", "k", WithValue("x"), 1}};
  ToHintBatch(hints, &batch);
  SUBCASE("a sibling its version vector does not cover") {
    batch.mutable_writes(0)->mutable_object()->mutable_siblings(0)->set_counter(9);
  }
  SUBCASE("an empty object, which would read as a delete") { batch.add_writes()->set_key("empty"); }
  CHECK(FromHintBatch(batch).status().code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace dynkv::handoff
