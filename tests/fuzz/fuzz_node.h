// FuzzNode: one whole dynkv node for the client and peer fuzz targets.
//
// It is sim::SimCluster with one node: the NodeServices of dynkvd (client
// service, coordinator, replica over a real LevelDB, hinted handoff,
// gossip, anti-entropy) on the simulated env instead of libuv, so an input
// runs the node's real request handlers in one thread with no sockets. The
// node is made once per process and kept across inputs (opening LevelDB
// per input would make the fuzzer a hundred times slower); a request that
// makes it leave or stop is followed by a restart on the same data dir, or
// on an empty one when it left for good.
//
// Requests enter where the node's ports hand them over: ClientServer calls
// ClientService::Handle, PeerServer calls NodeServices::peer_handler(). The
// bytes before that are split by net::FrameDecoder (fuzz_frames.h) and
// parsed by protobuf, as net::RpcServer does.
//
// Every request must get exactly one reply while the node runs; one that
// gets none within kReplyWaitMs of simulated time aborts the run, and so
// is reported by the fuzzer like a crash.
//
// The data dir is made under $TMPDIR (tools/fuzz.sh gives each run its
// own) and removed at exit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "client.pb.h"
#include "peer.pb.h"
#include "sim/sim_cluster.h"

namespace dynkv::fuzz {

// Simulated time a request may take; longer than any request timeout.
inline constexpr int64_t kReplyWaitMs = 20'000;

class FuzzNode {
 public:
  FuzzNode();
  ~FuzzNode();
  FuzzNode(const FuzzNode&) = delete;
  FuzzNode& operator=(const FuzzNode&) = delete;

  // The reply of ClientService::Handle.
  dynkv::client::Response Client(const dynkv::client::Request& request);
  // The reply of the node's peer handler; `request.from_node` as given.
  peer::PeerResponse Peer(const peer::PeerRequest& request);

 private:
  void EnsureRunning();
  // Runs `start` (a start of the node), then the simulation until the node
  // is ready or has stopped again.
  void Start(const std::function<Status()>& start);
  // Runs the simulation until `replied` or the node stops; aborts when
  // neither happens within kReplyWaitMs.
  void AwaitReply(const bool& replied, std::string_view what);

  std::string dir_;
  std::unique_ptr<sim::SimCluster> cluster_;
};

}  // namespace dynkv::fuzz
