// Splitting a fuzz input into messages the way the node's connections
// split their byte streams: net::FrameDecoder (a 4-byte big-endian length,
// then the payload).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "fuzz_check.h"
#include "net/net.h"

namespace dynkv::fuzz {

// Calls on_frame for each frame payload of `data`, at most max_frames of
// at most max_frame_bytes, until on_frame returns false. Returns false when
// the stream stopped at a frame over the limit (a node answers TOO_LARGE
// and closes the connection there).
bool ForEachFrame(const uint8_t* data, size_t size, size_t max_frame_bytes, size_t max_frames,
                  const std::function<bool(std::string_view payload)>& on_frame);

// A port's server loop over `data`, as net::RpcServer runs it: each frame
// (at most max_frames) parsed as a Request and answered by `handle`; a
// frame that does not parse, or one over max_frame_bytes, answered by
// `error` (INVALID_ARGUMENT, TOO_LARGE) and the end of the connection.
// Checked: every answer serializes as a frame.
template <typename Request, typename Response>
void ServeFrames(const uint8_t* data, size_t size, size_t max_frame_bytes, size_t max_frames,
                 const std::function<Response(const Request&)>& handle,
                 const std::function<Response(const Status&)>& error) {
  auto send = [](const Response& response) {
    std::string frame;
    net::AppendFrame(&frame, response);
    FUZZ_CHECK(frame.size() >= net::kFrameHeaderBytes);
  };
  const bool in_limit = ForEachFrame(data, size, max_frame_bytes, max_frames, [&](std::string_view payload) {
    Request request;
    if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      send(error(Status::InvalidArgument("a frame does not parse as a request")));
      return false;
    }
    send(handle(request));
    return true;
  });
  if (!in_limit) send(error(Status::TooLarge("frame exceeds limit")));
}

}  // namespace dynkv::fuzz
