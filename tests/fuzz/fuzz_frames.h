// Splitting a fuzz input into messages the way the node's connections
// split their byte streams: net::FrameDecoder (a 4-byte big-endian length,
// then the payload).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace dynkv::fuzz {

// Calls on_frame for each frame payload of `data`, at most max_frames of
// at most max_frame_bytes, until on_frame returns false. Returns false when
// the stream stopped at a frame over the limit (a node answers TOO_LARGE
// and closes the connection there).
bool ForEachFrame(const uint8_t* data, size_t size, size_t max_frame_bytes, size_t max_frames,
                  const std::function<bool(std::string_view payload)>& on_frame);

}  // namespace dynkv::fuzz
