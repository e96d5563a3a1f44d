// Token list codec for the node's metadata (see EncodeTokens in ring.h).
//
// Tokens are spread over the whole ring, so delta varints would not be
// smaller than fixed 8-byte words at the counts used (16 tokens 2^60 apart
// need 9 varint bytes each). Fixed words also make the form canonical: the
// count is the length, and the tokens must be strictly increasing.
#include <algorithm>

#include "common/coding.h"
#include "ring/ring.h"

namespace dynkv::ring {

namespace {

constexpr uint8_t kTokensVersion = 1;
constexpr size_t kTokenBytes = 8;

}  // namespace

std::string EncodeTokens(const std::vector<uint64_t>& tokens) {
  std::vector<uint64_t> sorted = tokens;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string out;
  out.reserve(1 + kTokenBytes * sorted.size());
  out.push_back(static_cast<char>(kTokensVersion));
  for (uint64_t token : sorted) PutFixed64BE(&out, token);
  return out;
}

Result<std::vector<uint64_t>> DecodeTokens(std::string_view bytes) {
  if (bytes.empty()) return Status::Corruption("token list: empty");
  const auto version = static_cast<uint8_t>(bytes[0]);
  if (version != kTokensVersion) {
    return Status::Corruption("token list: unknown version " + std::to_string(version));
  }
  bytes.remove_prefix(1);
  if (bytes.size() % kTokenBytes != 0) {
    return Status::Corruption("token list: length " + std::to_string(bytes.size()) +
                              " is not a whole number of tokens");
  }
  const size_t count = bytes.size() / kTokenBytes;
  if (count > kMaxVnodes) {
    return Status::Corruption("token list: " + std::to_string(count) + " tokens, more than " +
                              std::to_string(kMaxVnodes));
  }
  std::vector<uint64_t> tokens;
  tokens.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t token = DecodeFixed64BE(bytes.data() + i * kTokenBytes);
    if (!tokens.empty() && token <= tokens.back()) {
      return Status::Corruption("token list: tokens not strictly increasing");
    }
    tokens.push_back(token);
  }
  return tokens;
}

}  // namespace dynkv::ring
