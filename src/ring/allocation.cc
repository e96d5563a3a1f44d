// Token allocation: which positions a joining node takes.
//
// Blind random tokens leave the largest node owning up to 1.9 times the mean
// at 16 tokens per node (tools/ring_balance). Like Cassandra's allocator
// (CASSANDRA-7032), which puts each new token where it best evens out
// ownership, and like splitting the largest ranges of the most loaded nodes,
// a joining node instead works out what to take from whom:
//
//  1. It must end at the mean: target = 1/(n+1) of the ring. Water-filling
//     over the old nodes' shares finds the level L such that cutting every
//     node above L down to L yields exactly the target; as one token cuts
//     one range, at most `vnodes` nodes (the most loaded) are cut, to a
//     common level.
//  2. Each victim gets one cut; spare cuts go, one at a time, to the victim
//     whose cuts would have to take the largest fraction of their ranges.
//  3. No cut takes more than kMaxCut of a range; what a victim cannot give
//     the others make up.
//  4. A victim's cuts split its largest ranges by the same fraction: a token
//     placed inside (start, end] takes (start, token] from the owner.
//
// The new node thus takes exactly its fair share, and since tokens are only
// inserted, every key that moves, moves to it. Once a cluster has more nodes
// than `vnodes`, a joiner cannot cut them all, so the largest share over the
// mean peaks at 1 + 1/(vnodes+1) just after the cluster outgrows `vnodes`
// (measured for 3..100 nodes; it is lower elsewhere).
#include <algorithm>
#include <cmath>
#include <random>

#include "common/key_hash.h"
#include "ring/ranges.h"
#include "ring/ring.h"

namespace dynkv::ring {

namespace {

// The largest fraction of one range a cut takes. Cutting ranges whole would
// leave slivers that later joiners cannot take from.
constexpr double kMaxCut = 0.9;

struct Victim {
  size_t node = 0;             // index into ring.nodes()
  double share = 0;            // positions owned
  std::vector<size_t> ranges;  // indices of its splittable ranges, largest first
  double take = 0;             // positions it gives the new node
  size_t cuts = 0;             // how many of `ranges` (the largest) are cut
  double cut_length = 0;       // total length of those ranges

  double CutFraction() const { return take / cut_length; }
};

// A range of the new node: (start, start + length].
struct Piece {
  uint64_t start = 0;
  uint64_t length = 0;
};

// floor(2^64 / n) without 128-bit arithmetic.
uint64_t RingFraction(uint64_t n) {
  const uint64_t max = ~uint64_t{0};
  return max / n + (max % n == n - 1 ? 1 : 0);
}

std::vector<uint64_t> EvenTokens(const std::string& node_id, size_t vnodes) {
  const uint64_t offset = KeyPosition(node_id);
  const uint64_t step = RingFraction(vnodes);
  std::vector<uint64_t> tokens;
  for (size_t i = 0; i < vnodes; ++i) tokens.push_back(offset + i * step);
  std::sort(tokens.begin(), tokens.end());
  return tokens;
}

// Orders equally long ranges pseudo-randomly (the splitmix64 finalizer).
// Young rings are full of exact ties (the first node's even spacing, then
// halves of it); breaking them by position would bunch a joiner's cuts on
// one arc, where long runs of the same two or three owners leave some nodes
// out of many preference lists: the largest share of keys replicated on 3
// nodes reaches 1.24 times the mean instead of 1.15 (16 tokens, 3..100
// nodes).
uint64_t Scatter(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Every node that owns tokens, with its share and its ranges that can hold a
// new token (length >= 2), most loaded node first.
std::vector<Victim> OwnersByShare(const Ring& ring) {
  std::vector<Victim> owners(ring.nodes().size());
  for (size_t node = 0; node < owners.size(); ++node) owners[node].node = node;
  for (size_t i = 0; i < ring.token_count(); ++i) {
    Victim& owner = owners[ring.owner_index(i)];
    const double length = RangeLength(ring, i);
    owner.share += length;
    if (length >= 2) owner.ranges.push_back(i);
  }
  std::erase_if(owners, [](const Victim& v) { return v.share == 0; });
  for (Victim& owner : owners) {
    std::sort(owner.ranges.begin(), owner.ranges.end(), [&ring](size_t a, size_t b) {
      const double la = RangeLength(ring, a), lb = RangeLength(ring, b);
      if (la != lb) return la > lb;
      const uint64_t ma = Scatter(ring.token(a)), mb = Scatter(ring.token(b));
      return ma != mb ? ma < mb : a < b;
    });
  }
  std::sort(owners.begin(), owners.end(), [](const Victim& a, const Victim& b) {
    return a.share != b.share ? a.share > b.share : a.node < b.node;
  });
  return owners;
}

// Step 1: sets `take` on the first victims and drops the others.
void PlanTakes(double target, size_t max_victims, std::vector<Victim>* owners) {
  const size_t n = owners->size();
  const size_t limit = std::min(n, max_victims);
  double sum = 0;
  double level = 0;
  size_t k = 0;
  while (k < limit) {
    sum += (*owners)[k].share;
    ++k;
    level = (sum - target) / static_cast<double>(k);
    if (k == n || level >= (*owners)[k].share) break;
  }
  owners->resize(k);
  for (Victim& victim : *owners) victim.take = victim.share - level;
  std::erase_if(*owners, [](const Victim& v) { return v.take <= 0 || v.ranges.empty(); });
}

// Step 2: spreads `vnodes` cuts over the victims.
void PlanCuts(const Ring& ring, size_t vnodes, std::vector<Victim>* victims) {
  for (Victim& victim : *victims) {
    victim.cuts = 1;
    victim.cut_length = RangeLength(ring, victim.ranges[0]);
  }
  for (size_t spare = vnodes - std::min(vnodes, victims->size()); spare > 0; --spare) {
    Victim* neediest = nullptr;
    for (Victim& victim : *victims) {
      if (victim.cuts == victim.ranges.size()) continue;
      if (neediest == nullptr || victim.CutFraction() > neediest->CutFraction()) neediest = &victim;
    }
    if (neediest == nullptr) return;
    neediest->cut_length += RangeLength(ring, neediest->ranges[neediest->cuts]);
    ++neediest->cuts;
  }
}

// Step 3: a victim whose cut ranges cannot give its take without cutting
// more than kMaxCut of them gives what it can; the other victims make up the
// rest in proportion to what their cuts could still give, so the new node
// still gets close to its fair share.
void SpreadShortfall(std::vector<Victim>* victims) {
  double shortfall = 0;
  double slack = 0;
  for (Victim& victim : *victims) {
    const double capacity = kMaxCut * victim.cut_length;
    if (victim.take > capacity) {
      shortfall += victim.take - capacity;
      victim.take = capacity;
    } else {
      slack += capacity - victim.take;
    }
  }
  if (shortfall <= 0 || slack <= 0) return;
  const double portion = std::min(1.0, shortfall / slack);
  for (Victim& victim : *victims) victim.take += portion * (kMaxCut * victim.cut_length - victim.take);
}

// Step 4: places the cuts; returns the new node's ranges.
std::vector<Piece> PlaceCuts(const Ring& ring, const std::vector<Victim>& victims) {
  std::vector<Piece> pieces;
  for (const Victim& victim : victims) {
    const double fraction = std::min(victim.CutFraction(), kMaxCut);
    for (size_t c = 0; c < victim.cuts; ++c) {
      const size_t range = victim.ranges[c];
      const double length = RangeLength(ring, range);
      // length - 1 is exact enough: the cut only needs to stay inside.
      const double cut = std::clamp(std::floor(fraction * length), 1.0, length - 1);
      pieces.push_back(Piece{RangeStart(ring, range), static_cast<uint64_t>(cut)});
    }
  }
  return pieces;
}

// When there were fewer ranges to cut than vnodes (a ring of few tokens),
// splits the new node's own largest pieces: that adds tokens without
// changing what anyone owns. False when no piece can be split.
bool SplitOwnPieces(size_t vnodes, std::vector<Piece>* pieces) {
  while (pieces->size() < vnodes) {
    auto largest = std::max_element(pieces->begin(), pieces->end(),
                                    [](const Piece& a, const Piece& b) { return a.length < b.length; });
    if (largest == pieces->end() || largest->length < 2) return false;
    const uint64_t half = largest->length / 2;
    const Piece second{largest->start + half, largest->length - half};
    largest->length = half;
    pieces->push_back(second);
  }
  return true;
}

}  // namespace

Result<std::vector<uint64_t>> AllocateTokens(const Ring& current, const std::string& node_id, size_t vnodes) {
  if (vnodes == 0 || vnodes > kMaxVnodes) {
    return Status::InvalidArgument("vnodes must be 1.." + std::to_string(kMaxVnodes) + ", not " +
                                   std::to_string(vnodes));
  }
  if (node_id.empty()) return Status::InvalidArgument("empty node id");
  if (!current.TokensOf(node_id).empty()) {
    return Status::InvalidArgument("node " + node_id + " already owns tokens");
  }
  if (current.empty()) return EvenTokens(node_id, vnodes);

  std::vector<Victim> victims = OwnersByShare(current);
  const double target = kRingSize / static_cast<double>(victims.size() + 1);
  PlanTakes(target, vnodes, &victims);
  PlanCuts(current, vnodes, &victims);
  SpreadShortfall(&victims);
  std::vector<Piece> pieces = PlaceCuts(current, victims);
  if (!SplitOwnPieces(vnodes, &pieces)) {
    return Status::Internal("the ring has no room for " + std::to_string(vnodes) + " more tokens");
  }
  std::vector<uint64_t> tokens;
  for (const Piece& piece : pieces) tokens.push_back(piece.start + piece.length);
  std::sort(tokens.begin(), tokens.end());
  return tokens;
}

std::vector<uint64_t> RandomTokens(const std::string& node_id, size_t vnodes, uint64_t seed) {
  std::mt19937_64 random(seed ^ KeyPosition(node_id));
  std::vector<uint64_t> tokens;
  while (tokens.size() < vnodes) {
    while (tokens.size() < vnodes) tokens.push_back(random());
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  }
  return tokens;
}

}  // namespace dynkv::ring
