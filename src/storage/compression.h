// zstd compression of stored values (DESIGN.md: Storage).
//
// Decompression trusts nothing: a frame must be exactly one zstd frame that
// states its content size, and that size must be one the frame could hold
// and at most kMaxDecompressedBytes, so a corrupt record can never make us
// allocate without bound.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace dynkv::storage {

inline constexpr size_t kMaxDecompressedBytes = size_t{256} << 20;

// Owns one zstd compression and one decompression context, created on first
// use and reused: a fresh context per value would allocate on every call.
// Thread-compatible: one ZstdCodec per thread.
class ZstdCodec {
 public:
  ZstdCodec();
  ~ZstdCodec();
  ZstdCodec(const ZstdCodec&) = delete;
  ZstdCodec& operator=(const ZstdCodec&) = delete;

  // Replaces *out with one zstd frame (content size in its header) holding
  // `input` compressed at `level`. False when zstd fails (out of memory).
  bool Compress(std::string_view input, int level, std::string* out);

  // Replaces *out with the content of `frame`. Corruption for anything but
  // one whole, valid, size-stating frame within the cap.
  Status Decompress(std::string_view frame, std::string* out);

 private:
  struct CCtxFree {
    void operator()(ZSTD_CCtx_s* cctx) const;
  };
  struct DCtxFree {
    void operator()(ZSTD_DCtx_s* dctx) const;
  };

  std::unique_ptr<ZSTD_CCtx_s, CCtxFree> cctx_;
  std::unique_ptr<ZSTD_DCtx_s, DCtxFree> dctx_;
};

}  // namespace dynkv::storage
