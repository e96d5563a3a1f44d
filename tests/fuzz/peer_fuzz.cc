// Fuzz target: peer request handling, every op of the peer port (gossip
// SYN, ACK2 and leave notices, MintWrite, ReplicaSync, ReplicaRead, hint
// batches, range streaming, anti-entropy trees, keys and fetches). The
// input is what a peer writes to the peer port: frames
// (net::FrameDecoder), each parsed as a peer.proto PeerRequest as
// net::RpcServer parses it, then handed to the node's peer handler
// (NodeServices::peer_handler(), what PeerServer calls) on a whole
// simulated node (fuzz_node.h), which keeps its data across inputs. A
// frame that does not parse, or one over the size limit, ends the
// connection as the server does. Checked: every request gets exactly one
// reply (FuzzNode), and the reply serializes as a frame.
#include <cstddef>
#include <cstdint>

#include "fuzz_frames.h"
#include "fuzz_node.h"
#include "net/net.h"
#include "net/peer_transport.h"
#include "peer.pb.h"

using namespace dynkv;

constexpr size_t kMaxRequests = 16;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::FuzzNode node;
  fuzz::ServeFrames<peer::PeerRequest, peer::PeerResponse>(
      data, size, net::PeerServerOptions{}.max_frame_bytes, kMaxRequests,
      [](const peer::PeerRequest& request) { return node.Peer(request); },
      [](const Status& status) { return net::PeerErrorResponse(status); });
  return 0;
}
