// The simulator's checker: judges a history of client operations as
// tools/chaos/checker.py judges a real cluster's (the same rules, so a
// simulated run and a chaos run mean the same thing by "lost").
//
// Set workload (Jepsen's set test, as in its Riak analysis): every element
// whose add was acknowledged must be in the final read of its key; an
// element read that no client tried to add is invented.
// Register workload: every value read was written by some client
// (acknowledged or not), and a read that no fault window overlaps returns
// the reader's own last acknowledged write unless another write raced it
// (stale otherwise).
//
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dynkv::sim {

enum class OpKind {
  kAdd,        // set workload: read, add `value` to the set, write back
  kRead,       // read of a key: `values` is what was read
  kWrite,      // register workload: write of `value`
  kFinalRead,  // the read of every key after the run, at R=all
};

struct Op {
  int client = 0;  // the client's number; -1 for the run's own (cold-key writes, final reads)
  OpKind kind = OpKind::kRead;
  std::string key;
  std::string node;  // the node the client asked
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  bool ok = false;     // acknowledged
  std::string result;  // "ok", or the error code's name ("TIMEOUT", "CLIENT_TIMEOUT", ...)
  std::string value;   // add: the element; write: the value
  // read, final_read: what was read (set workload: the union of the
  // elements of every sibling; register: one entry per sibling)
  std::vector<std::string> values;
};

// A fault and its heal (the nemesis' window), as in the chaos history.
struct FaultWindow {
  std::string fault;  // kill, pause, partition, drop, clock, membership
  std::string node;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

enum class Workload { kSet, kRegister };

struct History {
  Workload workload = Workload::kSet;
  std::vector<Op> ops;
  std::vector<FaultWindow> faults;
};

// (key, element or value), sorted.
using Finding = std::pair<std::string, std::string>;

struct Verdict {
  std::vector<Finding> lost;             // acknowledged adds missing from the final read
  std::vector<Finding> recovered;        // unacknowledged adds that are present
  std::vector<Finding> unacknowledged;   // unacknowledged adds that are absent (allowed)
  std::vector<Finding> invented;         // values read that no client wrote
  std::vector<Finding> stale;            // register: (key, the reader's own write it missed)
  std::vector<std::string> unread_keys;  // set keys with no successful final read

  // No loss, nothing invented, nothing stale.
  bool valid() const { return lost.empty() && invented.empty() && stale.empty(); }
  // Every key written has a successful final read (set workload).
  bool judgeable() const { return unread_keys.empty(); }
};

Verdict Check(const History& history);

// Gray failures (issue 18): for each pause, slow or stall window, the
// acknowledged operations per second of the nodes other than the window's
// (what healthy coordinators keep doing while one replica is slow), in
// each whole second of the window (while clients still start operations),
// against their rate in the `baseline_ms` before it. The lowest such
// ratio; 1 with no such window or baseline.
double WorstThroughputRatio(const History& history, int64_t baseline_ms = 3000);

}  // namespace dynkv::sim
