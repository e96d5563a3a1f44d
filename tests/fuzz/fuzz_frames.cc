#include "fuzz_frames.h"

#include "net/net.h"

namespace dynkv::fuzz {

bool ForEachFrame(const uint8_t* data, size_t size, size_t max_frame_bytes, size_t max_frames,
                  const std::function<bool(std::string_view payload)>& on_frame) {
  net::FrameDecoder decoder(max_frame_bytes);
  decoder.Append(std::string_view(reinterpret_cast<const char*>(data), size));
  std::string_view payload;
  for (size_t frames = 0; frames < max_frames; ++frames) {
    switch (decoder.Next(&payload)) {
      case net::FrameDecoder::State::kFrame:
        if (!on_frame(payload)) return true;
        break;
      case net::FrameDecoder::State::kNeedMore:
        return true;
      case net::FrameDecoder::State::kTooLarge:
        return false;
    }
  }
  return true;
}

}  // namespace dynkv::fuzz
