#include "antientropy/tree_keeper.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/key_hash.h"

namespace dynkv::antientropy {

namespace {

constexpr size_t kScanBatchRecords = 1000;
constexpr size_t kScanBatchBytes = 4 << 20;

Status ErrnoStatus(const std::string& what, const std::string& path) {
  return Status::StorageError(what + " " + path + ": " + std::strerror(errno));
}

// Writes all of `bytes` to fd and syncs it.
Status WriteAndSync(int fd, const std::string& bytes, const std::string& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("cannot write", path);
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return ErrnoStatus("cannot sync", path);
  return Status::Ok();
}

// A failed write (a full disk) removes the partial temporary file, so that
// it holds no space the node needs.
Status WriteFileDurably(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", tmp);
  Status status = WriteAndSync(fd, bytes, tmp);
  ::close(fd);
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("cannot rename to", path);
  }
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

}  // namespace

Status ForEachInRange(storage::Engine& engine, uint64_t start, uint64_t end,
                      const std::function<void(const storage::ObjectWrite&)>& fn) {
  std::string cursor;
  do {
    auto batch = engine.ScanRange(start, end, &cursor, kScanBatchBytes, kScanBatchRecords);
    if (!batch.ok()) return batch.status();
    for (const storage::ObjectWrite& write : *batch) fn(write);
  } while (!cursor.empty());
  return Status::Ok();
}

Status TreeKeeper::Load() {
  std::ifstream in(checkpoint_path_, std::ios::binary);
  if (!in) return Status::NotFound("no tree checkpoint at " + checkpoint_path_);
  std::stringstream bytes;
  bytes << in.rdbuf();
  in.close();
  // Gone before any write lands: a crash from here on leaves no stale tree.
  if (std::remove(checkpoint_path_.c_str()) != 0) return ErrnoStatus("cannot remove", checkpoint_path_);
  Status status = tree_->Deserialize(bytes.str());
  if (!status.ok()) return status.WithContext("tree checkpoint " + checkpoint_path_);
  valid_ = true;
  Publish();
  return Status::Ok();
}

Status TreeKeeper::Save() const {
  if (!valid_) return Status::Ok();  // nothing worth keeping: the next start rebuilds
  return WriteFileDurably(checkpoint_path_, tree_->Serialize());
}

void TreeKeeper::OnChanged(std::string_view key, uint64_t before, uint64_t after) {
  const uint64_t position = KeyPosition(key);
  if (valid_) {
    tree_->Apply(position, before, after);
    Publish();
  }
  if (building_ && BranchOf(SegmentOf(position)) < built_branches_) building_->Apply(position, before, after);
}

void TreeKeeper::StartRebuild() {
  if (building_) return;
  building_ = std::make_unique<HashTree>();
  built_branches_ = 0;
}

Result<bool> TreeKeeper::RebuildStep(storage::Engine& engine) {
  // Branches until about kScanBatchRecords records were read: an empty or
  // small store builds at once, a large one a branch (~1,000 keys at a
  // million keys per node) at a time.
  size_t read = 0;
  HashTree& building = *building_;
  while (read < kScanBatchRecords && built_branches_ < kBranches) {
    const uint32_t first = built_branches_ * kLeavesPerBranch;
    const uint32_t last = first + kLeavesPerBranch - 1;
    // (SegmentFirst(first) - 1, ...]: for branch 0 that is (2^64-1, ...], i.e. from 0.
    Status status = ForEachInRange(engine, SegmentFirst(first) - 1, SegmentLast(last),
                                   [&building, &read](const storage::ObjectWrite& write) {
                                     building.Add(KeyPosition(write.key), ObjectDigest(write.key, write.object));
                                     ++read;
                                   });
    if (!status.ok()) return status;
    ++built_branches_;
  }
  if (built_branches_ < kBranches) return false;
  tree_ = std::move(building_);
  valid_ = true;
  built_branches_ = 0;
  Publish();
  return true;
}

Result<std::vector<std::pair<uint32_t, uint64_t>>> TreeKeeper::PartialDigests(
    storage::Engine& engine, const Coverage& coverage, const std::vector<uint32_t>& segments) const {
  std::vector<std::pair<uint32_t, uint64_t>> digests;
  for (uint32_t segment : segments) {
    uint64_t digest = 0;
    for (const RingRange& part : coverage.PartsOf(segment)) {
      Status status = ForEachInRange(engine, part.start, part.end, [&digest](const storage::ObjectWrite& write) {
        digest ^= ObjectDigest(write.key, write.object);
      });
      if (!status.ok()) return status;
    }
    digests.push_back({segment, digest});
  }
  return digests;
}

Result<std::vector<uint64_t>> TreeKeeper::Branches(storage::Engine& engine, const Coverage& coverage) const {
  auto partial = PartialDigests(engine, coverage, coverage.partial());
  if (!partial.ok()) return partial.status();
  return MaskedBranches(*tree_, coverage, *partial);
}

Result<std::vector<uint64_t>> TreeKeeper::Leaves(storage::Engine& engine, const Coverage& coverage,
                                                 const std::vector<uint32_t>& branches) const {
  std::vector<uint32_t> wanted;
  for (uint32_t segment : coverage.partial()) {
    if (std::binary_search(branches.begin(), branches.end(), BranchOf(segment))) wanted.push_back(segment);
  }
  auto partial = PartialDigests(engine, coverage, wanted);
  if (!partial.ok()) return partial.status();
  return MaskedLeaves(*tree_, coverage, *partial, branches);
}

Result<std::vector<KeyClock>> TreeKeeper::Clocks(storage::Engine& engine, const Coverage& coverage,
                                                 const std::vector<uint32_t>& segments) const {
  std::vector<KeyClock> clocks;
  auto add = [&clocks](const storage::ObjectWrite& write) {
    clocks.push_back({write.key, ObjectDigest(write.key, write.object), write.object.vv});
  };
  for (uint32_t segment : segments) {
    std::vector<RingRange> parts;
    if (coverage.IsFull(segment)) {
      parts.push_back({SegmentFirst(segment) - 1, SegmentLast(segment)});
    } else if (coverage.IsPartial(segment)) {
      parts = coverage.PartsOf(segment);
    }
    for (const RingRange& part : parts) {
      Status status = ForEachInRange(engine, part.start, part.end, add);
      if (!status.ok()) return status;
    }
  }
  return clocks;
}

size_t TreeKeeper::MemoryBytes() const {
  return tree_->MemoryBytes() + (building_ ? building_->MemoryBytes() : 0);
}

}  // namespace dynkv::antientropy
