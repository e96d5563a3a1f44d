// Helpers of the quorum tests on the simulator's Env (coordinator, replica
// service); the node's storage itself is ../sim_fixture.h.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "quorum/coordinator.h"

namespace dynkv::quorum::sim_util {

// Records every hint; each is acknowledged when the test says.
class RecordingHints final : public HintSink {
 public:
  struct Stored {
    std::string target;
    std::string key;
    Object object;
    std::function<void(Status)> done;
  };
  void StoreHint(const std::string& target, const std::string& key, const Object& object,
                 std::function<void(Status)> done) override {
    stored.push_back({target, key, object, std::move(done)});
  }
  std::deque<Stored> stored;
};

}  // namespace dynkv::quorum::sim_util
