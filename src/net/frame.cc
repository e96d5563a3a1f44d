// Frame codec: a 4-byte big-endian length, then the payload.
//
// FrameDecoder invariant: buffer_[begin_, end_) holds bytes read but not yet
// returned as frames; buffer_[end_, size) is free room for the next read.
// Room is made by sliding the unconsumed tail to the front (a partial frame
// at most) and only grows the buffer when a frame is larger than any seen.
//
// Memory follows the bytes that came, not the lengths announced: a frame's
// room grows at most twofold per read, so a header that announces 32 MiB
// followed by ten bytes holds a read's worth (slowloris, issue 14), and a
// buffer grown past kKeepBufferBytes for one large frame is let go once
// that frame is consumed, so idle connections do not pin it.
#include <google/protobuf/message_lite.h>

#include <algorithm>
#include <cstring>

#include "net/net.h"

namespace dynkv::net {
namespace {

constexpr size_t kKeepBufferBytes = 1u << 20;

uint32_t ReadBigEndian32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

void WriteBigEndian32(char* p, uint32_t value) {
  p[0] = static_cast<char>(value >> 24);
  p[1] = static_cast<char>(value >> 16);
  p[2] = static_cast<char>(value >> 8);
  p[3] = static_cast<char>(value);
}

}  // namespace

void AppendFrame(std::string* out, const google::protobuf::MessageLite& message) {
  size_t size = message.ByteSizeLong();
  size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + size);
  char* header = out->data() + start;
  WriteBigEndian32(header, static_cast<uint32_t>(size));
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(header + kFrameHeaderBytes));
}

FrameDecoder::FrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

char* FrameDecoder::WritableSpace(size_t hint, size_t* capacity) {
  if (begin_ == end_) begin_ = end_ = 0;
  size_t unread = end_ - begin_;
  // Once a header is in, ask for the rest of its frame, up to as much again
  // as has come of it: a large frame takes a few reads, each at most
  // doubling the room.
  size_t wanted = hint;
  if (unread >= kFrameHeaderBytes) {
    uint32_t length = ReadBigEndian32(buffer_.data() + begin_);
    size_t frame = kFrameHeaderBytes + size_t{length};
    if (length <= max_frame_bytes_ && frame > unread) {
      wanted = std::max(wanted, std::min(frame - unread, unread));
    }
  }
  if (wanted == 0) wanted = 1;
  if (buffer_.size() - end_ < wanted) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, unread);
      begin_ = 0;
      end_ = unread;
    }
    if (buffer_.size() - end_ < wanted) buffer_.resize(std::max(end_ + wanted, 2 * buffer_.size()));
  }
  *capacity = buffer_.size() - end_;
  return buffer_.data() + end_;
}

void FrameDecoder::Commit(size_t bytes) {
  const size_t committed = std::min(bytes, buffer_.size() - end_);
  end_ += committed;
  bytes_received_ += committed;
}

void FrameDecoder::Append(std::string_view bytes) {
  size_t capacity = 0;
  char* space = WritableSpace(bytes.size(), &capacity);
  std::memcpy(space, bytes.data(), bytes.size());
  Commit(bytes.size());
}

std::string_view FrameDecoder::TakeBuffered() {
  std::string_view taken(buffer_.data() + begin_, end_ - begin_);
  begin_ = end_ = 0;  // the view stays valid until the next WritableSpace
  return taken;
}

FrameDecoder::State FrameDecoder::Next(std::string_view* payload) {
  if (begin_ == end_) {
    begin_ = end_ = 0;  // everything consumed: reuse the buffer from its start
    if (buffer_.size() > kKeepBufferBytes) std::string().swap(buffer_);
    return State::kNeedMore;
  }
  size_t unread = end_ - begin_;
  if (unread < kFrameHeaderBytes) return State::kNeedMore;
  uint32_t length = ReadBigEndian32(buffer_.data() + begin_);
  if (length > max_frame_bytes_) {
    announced_bytes_ = length;
    return State::kTooLarge;
  }
  if (unread - kFrameHeaderBytes < length) return State::kNeedMore;
  *payload = std::string_view(buffer_.data() + begin_ + kFrameHeaderBytes, length);
  begin_ += kFrameHeaderBytes + length;
  return State::kFrame;
}

}  // namespace dynkv::net
