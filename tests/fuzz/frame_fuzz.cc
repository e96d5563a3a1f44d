// Fuzz target: the frame decoder (net/net.h FrameDecoder) that splits every
// byte stream a node reads, client and peer ports alike. The first byte
// sets the read sizes; the rest arrives in reads of those sizes, through
// WritableSpace/Commit as libuv's callbacks do, and every frame is taken
// after each read. Checked: the payloads are exactly the stream's frames
// in order, none over the limit; the stream stops at the first frame that
// announces more (kTooLarge, with the announced size); every frame parses
// or fails to parse as a client and a peer request, as the servers try.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "client.pb.h"
#include "fuzz_check.h"
#include "net/net.h"
#include "peer.pb.h"

using namespace dynkv;

namespace {

constexpr size_t kMaxFrameBytes = 4096;

uint32_t Length(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t read_size = 1 + data[0] % 64;
  const uint8_t* stream = data + 1;
  const size_t stream_size = size - 1;

  net::FrameDecoder decoder(kMaxFrameBytes);
  size_t read = 0;      // bytes handed to the decoder
  size_t expected = 0;  // where the next frame starts in the stream
  bool too_large = false;
  while (read < stream_size && !too_large) {
    const size_t n = std::min(read_size, stream_size - read);
    size_t capacity = 0;
    char* space = decoder.WritableSpace(n, &capacity);
    FUZZ_CHECK(capacity >= n);
    std::memcpy(space, stream + read, n);
    decoder.Commit(n);
    read += n;
    std::string_view payload;
    for (;;) {
      const net::FrameDecoder::State state = decoder.Next(&payload);
      if (state == net::FrameDecoder::State::kNeedMore) {
        // Not a whole frame yet: no header, or fewer bytes than it announces.
        FUZZ_CHECK(read - expected < net::kFrameHeaderBytes ||
                   read - expected - net::kFrameHeaderBytes < Length(stream + expected));
        break;
      }
      FUZZ_CHECK(read - expected >= net::kFrameHeaderBytes);
      const uint32_t length = Length(stream + expected);
      if (state == net::FrameDecoder::State::kTooLarge) {
        FUZZ_CHECK(length > kMaxFrameBytes);
        FUZZ_CHECK(decoder.announced_bytes() == length);
        too_large = true;
        break;
      }
      FUZZ_CHECK(payload.size() == length);
      FUZZ_CHECK(std::memcmp(payload.data(), stream + expected + net::kFrameHeaderBytes, length) == 0);
      expected += net::kFrameHeaderBytes + length;
      dynkv::client::Request client_request;
      (void)client_request.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
      peer::PeerRequest peer_request;
      (void)peer_request.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
    }
  }
  // An unframed protocol (HTTP, RESP) takes what is left as it is.
  if (!too_large) FUZZ_CHECK(decoder.TakeBuffered().size() == read - expected);
  return 0;
}
