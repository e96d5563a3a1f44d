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
#include <string>
#include <string_view>

#include "api/client_service.h"
#include "api/request_limits.h"
#include "client.pb.h"
#include "fuzz_check.h"
#include "fuzz_frames.h"
#include "fuzz_node.h"
#include "net/net.h"

using namespace dynkv;

namespace {

constexpr size_t kMaxRequests = 16;

void Send(const dynkv::client::Response& response) {
  std::string frame;
  net::AppendFrame(&frame, response);
  FUZZ_CHECK(frame.size() >= net::kFrameHeaderBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::FuzzNode node;
  const bool in_limit = fuzz::ForEachFrame(data, size, api::Limits{}.max_frame_bytes, kMaxRequests,
                                           [](std::string_view payload) {
    dynkv::client::Request request;
    if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      Send(api::ErrorResponse(0, Status::InvalidArgument("a frame does not parse as a request")));
      return false;
    }
    Send(node.Client(request));
    return true;
  });
  if (!in_limit) Send(api::ErrorResponse(0, Status::TooLarge("frame exceeds limit")));
  return 0;
}
