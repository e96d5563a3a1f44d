// The cluster-administration commands of the dynkv CLI: members, ring,
// transfers, leave and remove; and the text and JSON they print, built
// apart from the I/O so that tests can read it.
#pragma once

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include "client/client.h"

namespace dynkv::cli {

// Each prints its answer (a table, or JSON when `json`) and returns the
// Status of the request.
Status PrintMembers(client::Client& c, bool json);
Status PrintRing(client::Client& c, bool json);
Status PrintPreflist(client::Client& c, const std::string& key, bool json);
Status PrintTransfers(client::Client& c, bool json);
Status RemoveNode(client::Client& c, const std::string& node_id);

// What `members` and `transfers` print.
std::string MembersText(const client::MembersResponse& members);
std::string MembersJson(const client::MembersResponse& members);
std::string TransfersText(const client::TransfersResponse& transfers);
std::string TransfersJson(const client::TransfersResponse& transfers);
std::string PreflistText(const client::PreflistResponse& preflist);
std::string PreflistJson(const client::PreflistResponse& preflist);
// One line of a leave's progress: status, ranges done/total, keys, bytes.
std::string ProgressLine(const client::TransfersResponse& transfers);
// 512 B, 1.5 KiB, 20.0 MiB, ... (powers of 1024).
std::string HumanBytes(uint64_t bytes);

// `leave`, in two steps so that the caller can catch Ctrl-C between them:
// AskToLeave sends the LeaveRequest (after a Ping, for the node's id), and
// WaitUntilLeft follows the node until it has left.
struct LeaveWait {
  // The node asked: its id (from AskToLeave) and HOST:PORT.
  std::string node_id;
  std::string address;
  // How to connect again when the connection closes: the node stops when
  // it has left, and a refused connection is how the CLI learns it.
  client::Options connect;
  // Between two Transfers requests.
  int64_t poll_ms = 1000;
  // The whole wait. The CLI's --timeout bounds each request, not this: a
  // leave moves the node's data, which may take long on a large node.
  int64_t wait_ms = 3600 * 1000;
  // Set (by a SIGINT handler) to stop waiting; read before each poll.
  // REQUIRES: outlives the wait; nullptr: never interrupted.
  const volatile std::sig_atomic_t* interrupted = nullptr;
  // Progress and the final line; notes and the interruption message.
  std::FILE* out = stdout;
  std::FILE* err = stderr;
};

// Returns the node's id once the node accepted to leave.
Result<std::string> AskToLeave(client::Client& c, const std::string& address, std::FILE* out = stdout);

enum class LeaveOutcome {
  kLeft,         // the node reported "left" or stopped answering
  kInterrupted,  // `interrupted` was set; the node goes on leaving
};

// Polls Transfers on the node every poll_ms and prints a ProgressLine when
// it changes, until the node reports "left" or takes no connection any more
// ("NODE left the cluster"). Sends nothing but Transfers: no request of the
// protocol cancels a leave. TIMEOUT, saying how to follow the leave, when
// the node still answers after wait_ms.
Result<LeaveOutcome> WaitUntilLeft(client::Client& c, const LeaveWait& wait);

}  // namespace dynkv::cli
