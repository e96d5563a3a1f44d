// Fuzz target: client request handling. The input is what a client writes
// to the client port: frames (net::FrameDecoder), each parsed as a
// client.proto Request as net::RpcServer parses it, then handed to the
// node's ClientService::Handle (validation, then the coordinator, the
// replica and LevelDB, or the admin and stats paths) on a whole simulated
// node (fuzz_node.h), which keeps its data across inputs. A frame that
// does not parse, or one over the size limit, ends the connection as the
// server does. Checked: every request gets exactly one reply (FuzzNode),
// and the reply serializes as a frame.
#include <cstddef>
#include <cstdint>

#include "api/client_service.h"
#include "api/request_limits.h"
#include "client.pb.h"
#include "fuzz_frames.h"
#include "fuzz_node.h"
#include "net/net.h"

using namespace dynkv;

constexpr size_t kMaxRequests = 16;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::FuzzNode node;
  using dynkv::client::Request;
  fuzz::ServeFrames<Request, dynkv::client::Response>(
      data, size, api::Limits{}.max_frame_bytes, kMaxRequests,
      [](const Request& request) { return node.Client(request); },
      [](const Status& status) { return api::ErrorResponse(0, status); });
  return 0;
}
