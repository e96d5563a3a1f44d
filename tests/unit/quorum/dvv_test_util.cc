#include "dvv_test_util.h"

#include <cstdlib>

#include "quorum/dvv.h"

namespace dynkv::dvv_test {

uint64_t BaseSeed() {
  const char* env = std::getenv("DYNKV_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240611;
}

ActorId ReplicaActor(size_t index) { return "node" + std::to_string(index) + ".00c0ffee"; }

std::string InvariantViolation(const Object& object) {
  const auto& entries = object.vv.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].second == 0) return "zero counter for " + entries[i].first;
    if (i > 0 && entries[i - 1].first >= entries[i].first) return "vv actors not sorted and unique";
  }
  for (size_t i = 0; i < object.siblings.size(); ++i) {
    const Dot& dot = object.siblings[i].dot;
    if (!object.vv.Covers(dot)) return "vv does not cover " + dot.actor + ":" + std::to_string(dot.counter);
    if (i > 0 && !(object.siblings[i - 1].dot < dot)) return "sibling dots not sorted and unique";
  }
  return "";
}

Sibling RandomSibling(Rng& rng) {
  Sibling s;
  s.tombstone = rng.OneIn(5);
  if (!s.tombstone) s.value = "v" + std::to_string(rng.Below(8));
  s.write_time_ms = static_cast<int64_t>(rng.Below(1000));
  s.expires_at_ms = rng.OneIn(4) ? static_cast<int64_t>(1000 + rng.Below(1000)) : 0;
  return s;
}

std::vector<Object> RandomHistory(Rng& rng, size_t replicas, int steps) {
  std::vector<Object> current(replicas);
  std::vector<Object> states{Object{}};
  for (int step = 0; step < steps; ++step) {
    const size_t r = rng.Below(replicas);
    if (rng.OneIn(3)) {
      current[r] = dvv::Sync(current[r], rng.Pick(states));
    } else {
      const VersionVector context = rng.OneIn(4) ? VersionVector() : rng.Pick(states).vv;
      current[r] = dvv::Update(current[r], context, ReplicaActor(r), RandomSibling(rng));
    }
    states.push_back(current[r]);
  }
  return states;
}

std::string Describe(const Object& object) {
  std::string out = "vv{";
  for (const auto& [actor, counter] : object.vv.entries()) out += actor + ":" + std::to_string(counter) + " ";
  out += "} siblings[";
  for (const Sibling& s : object.siblings) {
    out += s.dot.actor + ":" + std::to_string(s.dot.counter) + "=" + (s.tombstone ? "<tomb>" : s.value) + " ";
  }
  return out + "]";
}

}  // namespace dynkv::dvv_test
