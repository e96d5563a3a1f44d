// Internal to the quorum module: the Coordinator's operations in flight,
// shared by coordinator.cc (reads, deadlines, replica calls) and
// coordinator_write.cc (writes).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "quorum/coordinator.h"

namespace dynkv::quorum {

struct Coordinator::ReadOp {
  std::string key;
  int64_t started_ms = 0;
  ReadTally tally;
  ObjectDone done;  // empty once answered
  ReadStage stage = ReadStage::kWaitingForR;
};

struct Coordinator::WriteOp {
  std::string key;
  int64_t started_ms = 0;
  WritePlan plan;
  WriteTally tally;
  ObjectDone done;
  Object minted;  // the object on the replica that minted the dot
  WriteStage stage = WriteStage::kMinting;
  // Minting: the client's write, and the replicas asked to mint it so far,
  // the last one current (a slow or failed minter gives way to the next).
  VersionVector context;
  Sibling sibling;
  std::vector<std::string> minters;
  size_t mints_in_flight = 0;
  int64_t mint_slow_at_ms = 0;     // when the current minter counts as slow
  std::set<std::string> replaced;  // targets a stand-in was added for
};

}  // namespace dynkv::quorum
