// One exchange between this node and a peer over the token ranges both
// replicate (DESIGN.md: Anti-entropy; Riak's Tictac AAE exchange):
//   1. branch hashes of both trees, twice with a pause, keeping the branches
//      that differed both times (a write in flight differs only once);
//   2. the leaves of those branches, 32 branches at a time: the differing
//      segments;
//   3. per 256 segments, every key's (digest, version vector) on both sides:
//      keys only the peer has, or whose version it holds ahead, are pulled
//      (AaeFetch) and merged here with dvv::Sync; then keys the peer lacks
//      or holds behind are pushed (a HintBatch, merged there), so siblings
//      and tombstones survive on both and nothing is resurrected.
// Traffic follows the difference: two 8 KiB branch lists when nothing
// differs, then 8 KiB per differing branch, then the differing keys.
//
// Threads: the env's loop; tree work runs on the storage thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "antientropy/compare.h"
#include "antientropy/coverage.h"
#include "antientropy/options.h"
#include "antientropy/tree_keeper.h"
#include "common/env.h"
#include "peer.pb.h"
#include "quorum/replica.h"
#include "storage/storage.h"

namespace dynkv::antientropy {

// Object bytes moved per second over every exchange of the node, with a
// burst of one second (a batch is charged once it is sent; the next waits).
class ByteThrottle {
 public:
  explicit ByteThrottle(uint64_t bytes_per_sec) : bytes_per_sec_(bytes_per_sec) {}
  // Milliseconds to wait before the next batch (0: go).
  int64_t WaitMs(int64_t now_ms) const;
  void Charge(uint64_t bytes, int64_t now_ms);

 private:
  uint64_t bytes_per_sec_;  // 0: no limit
  int64_t debt_until_ms_ = 0;
};

struct ExchangeResult {
  Status status;
  bool tree_not_ready = false;  // this node's or the peer's tree is being built: try later
  uint32_t branches_differing = 0;
  uint64_t segments_differing = 0;
  uint64_t keys_compared = 0;
  uint64_t keys_pulled = 0;
  uint64_t keys_pushed = 0;
  uint64_t bytes_sent = 0;      // hashes, clocks and objects, as encoded
  uint64_t bytes_received = 0;
};

// What an exchange needs of its node. REQUIRES: each outlives the exchange.
struct ExchangeContext {
  Env* env = nullptr;
  storage::StorageWorker* worker = nullptr;
  TreeKeeper* keeper = nullptr;  // touched on the storage thread only
  quorum::LocalReplica* replica = nullptr;
  ByteThrottle* throttle = nullptr;
};

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  using Done = std::function<void(const ExchangeResult&)>;

  // Starts an exchange with the node at `peer_address` over `ranges`. The
  // caller keeps the exchange until `done` (called once, from the loop);
  // dropping it earlier abandons it (no callback then).
  static std::shared_ptr<Exchange> Start(ExchangeContext context, ExchangeOptions options,
                                         std::string peer_address, std::vector<RingRange> ranges, Done done);

  Exchange(ExchangeContext context, ExchangeOptions options, std::string peer_address,
           const std::vector<RingRange>& ranges, Done done);

 private:
  using Hashes = Result<std::vector<uint64_t>>;
  using Clocks = Result<std::vector<KeyClock>>;

  void CompareBranches(int round);
  void OnBranches(int round, Hashes local, Hashes remote);
  void NextBranches();
  void OnLeaves(const std::vector<uint32_t>& branches, Hashes local, Hashes remote);
  void NextSegments();
  void OnClocks(Clocks local, Clocks remote);
  void Pull(size_t from);
  void Push(size_t from);
  void Finish(Status status);

  // The tree hashes of `branches` (empty: the branch hashes) on both sides.
  void BothHashes(const std::vector<uint32_t>& branches, std::function<void(Hashes, Hashes)> done);
  void CallPeer(peer::PeerRequest request, std::function<void(Result<peer::PeerResponse>)> done);
  // Runs `work` on the storage thread, then `then` on the loop, unless the
  // exchange was dropped meanwhile. `work` must not touch the exchange.
  template <typename T>
  void OnStorage(std::function<T(storage::Engine&)> work, std::function<void(T)> then);
  // Runs `step` on the loop once the throttle allows (or after `delay_ms`).
  void Later(int64_t delay_ms, std::function<void()> step);
  void AfterThrottle(std::function<void()> step);
  void AddRanges(google::protobuf::RepeatedPtrField<peer::AaeRange>* out) const;

  ExchangeContext context_;
  const ExchangeOptions options_;
  const std::string peer_;
  const std::vector<RingRange> ranges_;
  const std::shared_ptr<const Coverage> coverage_;  // shared with storage-thread work
  Done done_;
  ExchangeResult result_;
  std::vector<uint32_t> first_round_;  // branches differing the first time
  std::vector<uint32_t> branches_;     // differing both times; consumed in rounds
  size_t next_branch_ = 0;
  std::vector<uint32_t> segments_;  // differing, of the current round's branches
  size_t next_segment_ = 0;
  KeyPlan plan_;
  std::unique_ptr<Timer> timer_;
};

}  // namespace dynkv::antientropy
