#include "storage/compression.h"

#include <zstd.h>

namespace dynkv::storage {

namespace {

// Every zstd block that regenerates bytes takes at least 4 bytes of frame (a
// 3-byte header plus content) and regenerates at most ZSTD_BLOCKSIZE_MAX
// (RFC 8878, 3.1.1.2), which bounds what an honest frame can claim.
size_t MaxContentOfFrame(size_t frame_bytes) { return (frame_bytes / 4 + 1) * size_t{ZSTD_BLOCKSIZE_MAX}; }

}  // namespace

void ZstdCodec::CCtxFree::operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }
void ZstdCodec::DCtxFree::operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }

ZstdCodec::ZstdCodec() = default;
ZstdCodec::~ZstdCodec() = default;

bool ZstdCodec::Compress(std::string_view input, int level, std::string* out) {
  if (!cctx_) cctx_.reset(ZSTD_createCCtx());
  if (!cctx_) return false;
  out->resize(ZSTD_compressBound(input.size()));
  const size_t size =
      ZSTD_compressCCtx(cctx_.get(), out->data(), out->size(), input.data(), input.size(), level);
  if (ZSTD_isError(size)) {
    out->clear();
    return false;
  }
  out->resize(size);
  return true;
}

Status ZstdCodec::Decompress(std::string_view frame, std::string* out) {
  const unsigned long long claimed = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (claimed == ZSTD_CONTENTSIZE_ERROR) return Status::Corruption("zstd: not a zstd frame");
  if (claimed == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("zstd: frame does not state its content size");
  }
  if (claimed > kMaxDecompressedBytes || claimed > MaxContentOfFrame(frame.size())) {
    return Status::Corruption("zstd: a frame of " + std::to_string(frame.size()) + " bytes claims " +
                              std::to_string(claimed) + " bytes of content");
  }
  const size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) {
    return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(frame_size));
  }
  if (frame_size != frame.size()) return Status::Corruption("zstd: bytes after the frame");
  if (!dctx_) dctx_.reset(ZSTD_createDCtx());
  if (!dctx_) return Status::Internal("zstd: cannot allocate a decompression context");
  out->resize(claimed);
  const size_t size = ZSTD_decompressDCtx(dctx_.get(), out->data(), out->size(), frame.data(), frame.size());
  if (ZSTD_isError(size)) return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(size));
  if (size != claimed) {
    return Status::Corruption("zstd: frame claims " + std::to_string(claimed) + " bytes but holds " +
                              std::to_string(size));
  }
  return Status::Ok();
}

}  // namespace dynkv::storage
