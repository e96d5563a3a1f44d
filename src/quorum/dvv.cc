#include "quorum/dvv.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/coding.h"

namespace dynkv::dvv {

namespace {

constexpr uint8_t kContextVersion = 1;

// Counters in a client context stay below 2^63, so the +1 of Update can never
// wrap a forged counter around to 0.
constexpr uint64_t kMaxContextCounter = (uint64_t{1} << 63) - 1;

// A total order: by dot, then by content. Two replicas should never hold
// different contents for one dot; if a bug or a reused actor makes them, every
// replica still keeps the same (greatest) one, so Sync stays commutative.
bool SiblingLess(const Sibling& x, const Sibling& y) {
  return std::tie(x.dot, x.tombstone, x.value, x.write_time_ms, x.expires_at_ms) <
         std::tie(y.dot, y.tombstone, y.value, y.write_time_ms, y.expires_at_ms);
}

struct Candidate {
  const Sibling* sibling;
  bool from_a;
};

// Every sibling of both sides, grouped by dot (greatest content last).
std::vector<Candidate> SortedCandidates(const Object& a, const Object& b) {
  std::vector<Candidate> all;
  all.reserve(a.siblings.size() + b.siblings.size());
  for (const Sibling& s : a.siblings) all.push_back({&s, true});
  for (const Sibling& s : b.siblings) all.push_back({&s, false});
  std::sort(all.begin(), all.end(),
            [](const Candidate& x, const Candidate& y) { return SiblingLess(*x.sibling, *y.sibling); });
  return all;
}

Status Malformed(std::string_view why) {
  return Status::InvalidArgument("malformed context: " + std::string(why));
}

}  // namespace

Object Update(const Object& current, const VersionVector& context, const ActorId& actor, Sibling sibling,
              uint64_t floor) {
  Object result;
  result.vv = current.vv;
  result.vv.Merge(context);
  // Past both the replica's own counter and the client's context, so the new
  // dot is one nobody has seen (Preguiça et al., DVV: update).
  sibling.dot = Dot{actor, std::max(result.vv.Get(actor) + 1, floor)};
  result.vv.Raise(actor, sibling.dot.counter);
  for (const Sibling& s : current.siblings) {
    if (!context.Covers(s.dot)) result.siblings.push_back(s);
  }
  result.siblings.push_back(std::move(sibling));
  std::sort(result.siblings.begin(), result.siblings.end(), SiblingLess);
  return result;
}

Object Sync(const Object& a, const Object& b) {
  Object result;
  result.vv = a.vv;
  result.vv.Merge(b.vv);
  const std::vector<Candidate> all = SortedCandidates(a, b);
  for (size_t begin = 0; begin < all.size();) {
    const Dot& dot = all[begin].sibling->dot;
    bool in_a = false;
    bool in_b = false;
    size_t end = begin;
    for (; end < all.size() && all[end].sibling->dot == dot; ++end) {
      (all[end].from_a ? in_a : in_b) = true;
    }
    // A side that has seen the dot but no longer holds it has replaced the
    // sibling with a later write (Riak dvvset: sync).
    if ((in_a || !a.vv.Covers(dot)) && (in_b || !b.vv.Covers(dot))) {
      result.siblings.push_back(*all[end - 1].sibling);
    }
    begin = end;
  }
  return result;
}

std::string EncodeContext(const VersionVector& vv) {
  std::string out;
  if (vv.empty()) return out;
  out.push_back(static_cast<char>(kContextVersion));
  AppendVersionVector(&out, vv);
  return out;
}

Result<VersionVector> DecodeContext(std::string_view bytes) {
  if (bytes.empty()) return VersionVector();
  ByteReader reader(bytes);
  uint8_t version = 0;
  if (!reader.GetByte(&version) || version != kContextVersion) {
    return Malformed("unknown version " + std::to_string(version));
  }
  VersionVector vv;
  if (Status s = ReadVersionVector(&reader, &vv); !s.ok()) return Malformed(s.message());
  if (!reader.empty()) return Malformed(std::to_string(reader.remaining()) + " trailing bytes");
  for (const auto& [actor, counter] : vv.entries()) {
    if (counter > kMaxContextCounter) return Malformed("counter out of range");
  }
  return vv;
}

}  // namespace dynkv::dvv
