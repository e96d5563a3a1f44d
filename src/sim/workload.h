// The simulator's clients: the workloads of tools/chaos/workloads.py, run
// against a SimCluster on the simulated clock, recording every operation in
// a History for the checker (sim/checker.h).
//
// set:      read (R), union the elements of every sibling, add a unique
//           element, write back with the read's context (W): Jepsen's set
//           test, as in its Riak analysis. Optionally cold keys too,
//           written once before the clients start (cold_keys).
// register: one value per write; a write carries the context of the
//           client's last answer for that key; reads use R.
//
// A client sends one request at a time to one node, waits for the answer
// at most client_timeout_ms (CLIENT_TIMEOUT), and moves to another node
// after a timeout or a refused connection. Nodes are the cluster's members
// of the moment (SimCluster::members): a node that joined may be asked, one
// that left or was removed is not (a client on it moves before its next
// operation).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client.pb.h"
#include "sim/checker.h"
#include "sim/sim_cluster.h"

namespace dynkv::sim {

struct WorkloadOptions {
  Workload workload = Workload::kSet;
  size_t clients = 5;
  size_t keys = 5;
  uint32_t r = 2;
  uint32_t w = 2;
  uint32_t request_timeout_ms = 1500;  // what requests ask of the coordinator
  int64_t client_timeout_ms = 3000;    // then the client gives up on the answer
  int64_t max_think_ms = 40;           // pause between a client's operations
  uint64_t ops = 2000;                 // operations in all, then the clients stop
  // Set workload: keys written once each (one add, W=w) before the clients
  // start and never again, so only data movement carries them through ring
  // changes: the hot keys' read-modify-writes copy their sets to new
  // replicas by themselves (and read repair heals them). Taken from `ops`.
  size_t cold_keys = 0;
};

class WorkloadClient;

// Runs the clients until `ops` operations are recorded, then reads every
// key at R=all (FinalReads).
class WorkloadRun {
 public:
  // REQUIRES: cluster and history outlive the run.
  WorkloadRun(SimCluster& cluster, History& history, WorkloadOptions options);
  ~WorkloadRun();

  // Writes the cold keys (options.cold_keys), each at most `attempts`
  // times, running the cluster until they are answered. Before Start.
  void WriteColdKeys(int attempts = 10);
  // Starts every client now.
  void Start();
  // True once every client has stopped (the budget is spent, none in flight).
  bool Finished() const;
  // Reads every key with R=all from the members, each at most `attempts`
  // times; runs the cluster until they are answered. Records final_read
  // operations. REQUIRES: the cluster has settled (no change in progress).
  void FinalReads(int attempts = 10);

  uint64_t ops_started() const { return ops_started_; }
  const std::vector<std::string>& keys() const { return keys_; }  // the clients' (hot) keys

 private:
  friend class WorkloadClient;
  bool TakeOp();
  // Sends `request` to the members in turn until one answers OK, at most
  // `attempts` times; records each try as an operation of `kind` (client -1).
  bool CallUntilAnswered(OpKind kind, const std::string& key, const dynkv::client::Request& request,
                         const std::string& value, int attempts);

  SimCluster& cluster_;
  History& history_;
  WorkloadOptions options_;
  std::vector<std::string> keys_;
  std::vector<std::string> cold_keys_;
  std::vector<std::unique_ptr<WorkloadClient>> clients_;
  uint64_t ops_started_ = 0;
};

// Elements of a set value ("a,b,c") and back; sorted, unique.
std::vector<std::string> DecodeSet(const std::string& value);
std::string EncodeSet(const std::vector<std::string>& elements);

}  // namespace dynkv::sim
