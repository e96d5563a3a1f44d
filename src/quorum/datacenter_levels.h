// Per-datacenter consistency levels, after Cassandra's LOCAL_QUORUM and
// EACH_QUORUM (tally.h: kLocalQuorumLevel, kEachQuorumLevel).
//
// A key's preference list is cut by datacenter: each entry goes with the
// datacenter of the primary it is or stands in for, so each part holds
// one entry per replica the datacenter keeps, and a datacenter's quorum
// is floor(its replicas / 2) + 1.
//
//   local_quorum  reads ask only the coordinator's datacenter and wait for
//                 its quorum, so they never wait on a WAN link; writes go to
//                 every replica but only the local ones count (the others
//                 get the write without being waited on), and a local
//                 primary mints.
//   each_quorum   reads and writes wait for a quorum in every datacenter
//                 that keeps the key (one quorum group per datacenter of
//                 the tallies).
//
// INVALID_ARGUMENT for local_quorum on a node whose datacenter keeps no
// replica of the key; UNAVAILABLE (as PlanRead and PlanWrite say it) when a
// datacenter whose quorum is needed has too few replicas alive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "quorum/tally.h"
#include "ring/ring.h"

namespace dynkv::quorum {

bool IsDatacenterLevel(uint32_t level);
// "local_quorum" or "each_quorum".
std::string DatacenterLevelName(uint32_t level);

// `list`: the key's list as for PlanRead (strict, or sloppy through
// WithUncoveredPrimaries); `ring` places its nodes; `local`: the
// coordinator's datacenter.
Result<ReadPlan> PlanDatacenterRead(const std::vector<ring::Replica>& list, const ring::Ring& ring,
                                    uint32_t level, const std::string& local);
// `options.n` and `options.w` are ignored: each datacenter's come from the list.
Result<WritePlan> PlanDatacenterWrite(const std::vector<ring::Replica>& list, const ring::Ring& ring,
                                      uint32_t level, const std::string& local, WriteOptions options);

}  // namespace dynkv::quorum
