// The decisions of an exchange, apart from its messaging (Riak's get_core
// style): which branches and segments differ, and which keys to pull from
// the peer and which to push to it. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "antientropy/tree_keeper.h"

namespace dynkv::antientropy {

// Indexes where the two hash lists differ. REQUIRES: equal sizes.
std::vector<uint32_t> Differing(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
// Of two differing-branch lists (sorted), those in both: a branch that
// differed only once was a write in flight (Tictac compares twice).
std::vector<uint32_t> InBoth(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);
// The segments whose leaves differ, from the leaf lists of `branches` (as
// TreeKeeper::Leaves and AaeTreeReply give them).
std::vector<uint32_t> DifferingSegments(const std::vector<uint32_t>& branches, const std::vector<uint64_t>& local,
                                        const std::vector<uint64_t>& remote);

struct KeyPlan {
  std::vector<std::string> pull;  // the peer has what this node lacks
  std::vector<std::string> push;  // this node has what the peer lacks (after the pull: merged)
};
// Per key: the same digest, nothing; only one side, or one version vector
// descending the other, a pull or a push; concurrent (or equal vectors with
// other content: one side reaped), both. Clocks need not be sorted.
KeyPlan PlanKeys(const std::vector<KeyClock>& local, const std::vector<KeyClock>& remote);

}  // namespace dynkv::antientropy
