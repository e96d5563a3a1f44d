// `dynkv repair`: the node exchanges every range it replicates with each of
// its other replicas now (anti-entropy), and the CLI follows it once a
// second, printing progress when it changes and a summary at the end. The
// text and JSON are built apart from the I/O so that tests can read them.
#pragma once

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include "client/client.h"

namespace dynkv::cli {

// "repair on n1: 8 of 16 ranges compared (1 of 2 replica peers), 3 keys repaired"
std::string RepairLine(const client::RepairResponse& repair);
// The end: what was compared and repaired, then one line per replica peer
// not compared ("n3 was down", "n2: TIMEOUT: ...").
std::string RepairSummary(const client::RepairResponse& repair);
std::string RepairJson(const client::RepairResponse& repair);

struct RepairWait {
  int64_t poll_ms = 1000;
  int64_t wait_ms = 24LL * 3600 * 1000;  // a whole repair of a large node takes long
  bool json = false;  // the final answer as JSON instead of text (no progress lines)
  // Set by a SIGINT handler: stop following (the repair goes on).
  const volatile std::sig_atomic_t* interrupted = nullptr;
  std::FILE* out = stdout;
  std::FILE* err = stderr;
};

// Starts a repair on the node and follows it to its end. Returns the exit
// status: 0 when every range was compared with every live replica peer, 1
// when one was not, 130 when interrupted (the repair goes on).
Result<int> RunRepair(client::Client& c, const RepairWait& wait);

}  // namespace dynkv::cli
