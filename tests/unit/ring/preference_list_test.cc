#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

#include "ring/ring.h"
#include "ring_test_util.h"

template <>
struct doctest::StringMaker<std::vector<dynkv::ring::Replica>> {
  static doctest::String convert(const std::vector<dynkv::ring::Replica>& list) {
    std::string out = "[";
    for (const dynkv::ring::Replica& r : list) {
      out += " " + r.node_id + (r.up ? "(up" : "(down") + (r.fallback ? " for " + r.hint_for : "") + ")";
    }
    return (out + " ]").c_str();
  }
};

namespace dynkv::ring {

namespace {

IsUp AllBut(std::set<std::string> down) {
  return [down = std::move(down)](const std::string& node) { return down.count(node) == 0; };
}

std::vector<std::string> Ids(const std::vector<Replica>& list) {
  std::vector<std::string> out;
  for (const Replica& r : list) out.push_back(r.node_id);
  return out;
}

Replica Up(std::string node) { return Replica{std::move(node), false, "", true}; }
Replica Down(std::string node) { return Replica{std::move(node), false, "", false}; }
Replica Fallback(std::string node, std::string primary) {
  return Replica{std::move(node), true, std::move(primary), true};
}

// Every distinct owner clockwise from `position`, nearest first, from the
// definition: tokens sorted, starting at the first one >= position.
std::vector<std::string> ClockwiseOwners(const TokenMap& tokens, uint64_t position) {
  std::vector<std::pair<uint64_t, std::string>> all;
  for (const auto& [node, node_tokens] : tokens) {
    for (uint64_t t : node_tokens) all.emplace_back(t, node);
  }
  std::sort(all.begin(), all.end());
  const auto start = std::find_if(all.begin(), all.end(), [&](const auto& e) { return e.first >= position; });
  std::rotate(all.begin(), start, all.end());
  std::vector<std::string> owners;
  for (const auto& [t, node] : all) {
    if (std::find(owners.begin(), owners.end(), node) == owners.end()) owners.push_back(node);
  }
  return owners;
}

// The specification of sloppy lists, written plainly: up primaries, then
// the up nodes beyond the primaries matched in order to the down primaries.
std::vector<Replica> SloppyModel(const std::vector<std::string>& owners, size_t n, const IsUp& is_up) {
  const size_t primaries = std::min(n, owners.size());
  std::vector<Replica> out;
  std::vector<std::string> down;
  for (size_t i = 0; i < primaries; ++i) {
    if (is_up(owners[i])) {
      out.push_back(Up(owners[i]));
    } else {
      down.push_back(owners[i]);
    }
  }
  size_t next = primaries;
  for (const std::string& primary : down) {
    while (next < owners.size() && !is_up(owners[next])) ++next;
    if (next == owners.size()) break;
    out.push_back(Fallback(owners[next++], primary));
  }
  return out;
}

// Ring order: 10a 20b 30c 40c 50d 55b 60a 70e.
const TokenMap kTokens = {{"a", {10, 60}}, {"b", {20, 55}}, {"c", {30, 40}}, {"d", {50}}, {"e", {70}}};

}  // namespace

TEST_CASE("primaries are the first n distinct nodes clockwise from the key") {
  const Ring ring(kTokens);
  CHECK(Ids(ring.PreferenceList(15, 3)) == std::vector<std::string>{"b", "c", "d"});
  // A key exactly on a token starts at that token's owner.
  CHECK(Ids(ring.PreferenceList(20, 3)) == std::vector<std::string>{"b", "c", "d"});
  CHECK(Ids(ring.PreferenceList(21, 3)) == std::vector<std::string>{"c", "d", "b"});
  for (const Replica& replica : ring.PreferenceList(15, 3)) CHECK(replica == Up(replica.node_id));
  CHECK(ring.PreferenceList(15, 0).empty());
}

TEST_CASE("preference lists wrap around the end of the ring") {
  const Ring ring(kTokens);
  CHECK(Ids(ring.PreferenceList(65, 3)) == std::vector<std::string>{"e", "a", "b"});
  CHECK(Ids(ring.PreferenceList(71, 3)) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("with fewer nodes than n the list holds every node once") {
  const Ring ring(kTokens);
  CHECK(Ids(ring.PreferenceList(15, 9)) == std::vector<std::string>{"b", "c", "d", "a", "e"});
  const Ring two(TokenMap{{"x", {1, 3, 5}}, {"y", {2, 4}}});
  CHECK(Ids(two.PreferenceList(0, 3)) == std::vector<std::string>{"x", "y"});
}

TEST_CASE("strict lists keep down primaries, marked down, with no fallback") {
  const Ring ring(kTokens);
  const auto list = ring.PreferenceList(15, 3, AllBut({"c"}), Quorum::kStrict);
  CHECK(list == std::vector<Replica>{Up("b"), Down("c"), Up("d")});
  const auto all_down = ring.PreferenceList(15, 3, AllBut({"a", "b", "c", "d", "e"}), Quorum::kStrict);
  CHECK(all_down == std::vector<Replica>{Down("b"), Down("c"), Down("d")});
}

TEST_CASE("a down primary is replaced by the next healthy node beyond the primaries") {
  const Ring ring(kTokens);
  // Beyond the primaries b, c, d comes 55b, already in the list, then 60a.
  CHECK(ring.PreferenceList(15, 3, AllBut({"c"}), Quorum::kSloppy) ==
        std::vector<Replica>{Up("b"), Up("d"), Fallback("a", "c")});
  // a is down too: the fallback is the next healthy node, e.
  CHECK(ring.PreferenceList(15, 3, AllBut({"c", "a"}), Quorum::kSloppy) ==
        std::vector<Replica>{Up("b"), Up("d"), Fallback("e", "c")});
  // Two down primaries take the fallbacks in ring order.
  CHECK(ring.PreferenceList(15, 3, AllBut({"b", "c"}), Quorum::kSloppy) ==
        std::vector<Replica>{Up("d"), Fallback("a", "b"), Fallback("e", "c")});
  // With every primary up the sloppy list is the strict one.
  CHECK(ring.PreferenceList(15, 3, AllBut({}), Quorum::kSloppy) ==
        std::vector<Replica>{Up("b"), Up("c"), Up("d")});
}

TEST_CASE("a down primary that no healthy node can stand in for is left out") {
  const Ring ring(kTokens);
  CHECK(ring.PreferenceList(15, 3, AllBut({"c", "a", "e"}), Quorum::kSloppy) ==
        std::vector<Replica>{Up("b"), Up("d")});
  CHECK(ring.PreferenceList(15, 3, AllBut({"a", "b", "c", "d", "e"}), Quorum::kSloppy).empty());
  // Five nodes, n = 5: no node is left beyond the primaries.
  CHECK(ring.PreferenceList(15, 5, AllBut({"d"}), Quorum::kSloppy) ==
        std::vector<Replica>{Up("b"), Up("c"), Up("a"), Up("e")});
}

TEST_CASE("preference lists match the definition on random rings") {
  const uint64_t base = ring_test::BaseSeed();
  for (uint64_t round = 0; round < 300; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    TokenMap tokens;
    std::set<uint64_t> used;
    const size_t nodes = 1 + random() % 8;
    std::set<std::string> down;
    for (size_t n = 0; n < nodes; ++n) {
      const std::string node = ring_test::NodeName(n);
      for (size_t t = 1 + random() % 4; t > 0; --t) {
        const uint64_t token = random() % 1000;
        if (used.insert(token).second) tokens[node].push_back(token);
      }
      if (random() % 3 == 0) down.insert(node);
    }
    const Ring ring(tokens);
    const IsUp is_up = AllBut(down);
    for (int k = 0; k < 20; ++k) {
      const uint64_t position = random() % 1100;
      const size_t n = random() % 6;
      CAPTURE(position);
      CAPTURE(n);
      const std::vector<std::string> owners = ClockwiseOwners(tokens, position);
      std::vector<Replica> strict;
      for (size_t i = 0; i < std::min(n, owners.size()); ++i) {
        strict.push_back(is_up(owners[i]) ? Up(owners[i]) : Down(owners[i]));
      }
      CHECK(ring.PreferenceList(position, n, is_up, Quorum::kStrict) == strict);
      CHECK(ring.PreferenceList(position, n, is_up, Quorum::kSloppy) == SloppyModel(owners, n, is_up));
    }
  }
}

}  // namespace dynkv::ring
