// TreeKeeper: the node's hash tree (tree.h) kept current by every change to
// the data (storage::ChangeObserver), checkpointed at a clean stop, and
// rebuilt by a scan, one branch at a time, after a crash or on a schedule.
// Answers the hashes and key clocks an exchange asks for, counting only the
// keys inside a Coverage.
//
// While a rebuild runs the old tree (when it was valid) keeps serving, and
// the new one takes the changes of the branches it has already scanned: a
// branch not yet scanned will be read as it is when its turn comes.
//
// Threads: every call but the constructor and Load runs on the storage
// thread (the engine's ChangeObserver calls come from there too); the keeper
// has no lock. Load runs before the storage thread starts.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "antientropy/coverage.h"
#include "antientropy/tree.h"
#include "common/object.h"
#include "common/status.h"
#include "storage/storage.h"

namespace dynkv::antientropy {

// A key's clock as an exchange compares it.
struct KeyClock {
  std::string key;
  uint64_t digest = 0;
  VersionVector vv;
};

class TreeKeeper final : public storage::ChangeObserver {
 public:
  // `checkpoint_path`: where a clean stop leaves the tree.
  explicit TreeKeeper(std::string checkpoint_path) : checkpoint_path_(std::move(checkpoint_path)) {}

  // Reads the checkpoint a clean stop left and deletes it, so that a crash
  // from now on leaves none (the tree would miss the writes since). OK with
  // a valid tree, else why not (no checkpoint, a corrupt one): rebuild.
  Status Load();
  // Writes the tree durably to the checkpoint (a clean stop's last step).
  Status Save() const;

  // storage::ChangeObserver
  uint64_t Digest(std::string_view key, const Object& object) const override { return ObjectDigest(key, object); }
  void OnChanged(std::string_view key, uint64_t before, uint64_t after) override;

  // A valid tree answers exchanges.
  bool ready() const { return valid_; }
  bool rebuilding() const { return building_ != nullptr; }
  // Starts a rebuild (no-op while one runs).
  void StartRebuild();
  // Scans the next branches (about a thousand records) into the tree being
  // built; true once the rebuild is done (the new tree then replaces the
  // old). REQUIRES: rebuilding().
  Result<bool> RebuildStep(storage::Engine& engine);
  uint32_t rebuilt_branches() const { return built_branches_; }

  // What an exchange compares (coverage.h); scans the partial segments.
  Result<std::vector<uint64_t>> Branches(storage::Engine& engine, const Coverage& coverage) const;
  Result<std::vector<uint64_t>> Leaves(storage::Engine& engine, const Coverage& coverage,
                                       const std::vector<uint32_t>& branches) const;
  // The clocks of every key of `segments` inside the coverage, in ring order.
  Result<std::vector<KeyClock>> Clocks(storage::Engine& engine, const Coverage& coverage,
                                       const std::vector<uint32_t>& segments) const;

  const HashTree& tree() const { return *tree_; }
  size_t MemoryBytes() const;
  // The valid tree's key count (HashTree::keys), or -1 while there is no
  // valid tree. Any thread: the storage thread publishes it.
  int64_t published_keys() const { return published_keys_.load(std::memory_order_relaxed); }

 private:
  // The digests of the covered parts of `segments` (each partial in coverage).
  Result<std::vector<std::pair<uint32_t, uint64_t>>> PartialDigests(storage::Engine& engine,
                                                                     const Coverage& coverage,
                                                                     const std::vector<uint32_t>& segments) const;

  const std::string checkpoint_path_;
  std::unique_ptr<HashTree> tree_ = std::make_unique<HashTree>();
  bool valid_ = false;
  std::unique_ptr<HashTree> building_;
  uint32_t built_branches_ = 0;  // branches of building_ scanned
  std::atomic<int64_t> published_keys_{-1};

  void Publish() { published_keys_.store(valid_ ? static_cast<int64_t>(tree_->keys()) : -1, std::memory_order_relaxed); }
};

// Calls `fn` for every record in ring range (start, end], paging through
// Engine::ScanRange.
Status ForEachInRange(storage::Engine& engine, uint64_t start, uint64_t end,
                      const std::function<void(const storage::ObjectWrite&)>& fn);

}  // namespace dynkv::antientropy
