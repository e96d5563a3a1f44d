#include "common/object.h"

#include <algorithm>

#include "common/coding.h"

namespace dynkv {

namespace {

auto FindActor(const std::vector<VersionVector::Entry>& entries, std::string_view actor) {
  return std::lower_bound(entries.begin(), entries.end(), actor,
                          [](const VersionVector::Entry& e, std::string_view a) { return e.first < a; });
}

}  // namespace

uint64_t VersionVector::Get(std::string_view actor) const {
  auto it = FindActor(entries_, actor);
  return it != entries_.end() && it->first == actor ? it->second : 0;
}

void VersionVector::Raise(const ActorId& actor, uint64_t counter) {
  if (counter == 0) return;
  auto it = FindActor(entries_, actor);
  if (it != entries_.end() && it->first == actor) {
    auto& entry = entries_[it - entries_.begin()];
    entry.second = std::max(entry.second, counter);
  } else {
    entries_.insert(it, {actor, counter});
  }
}

bool VersionVector::DescendedBy(const VersionVector& other) const {
  return std::all_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.second <= other.Get(e.first); });
}

void VersionVector::Merge(const VersionVector& other) {
  std::vector<Entry> merged;
  merged.reserve(entries_.size() + other.entries_.size());
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.end() || b != other.entries_.end()) {
    if (b == other.entries_.end() || (a != entries_.end() && a->first < b->first)) {
      merged.push_back(*a++);
    } else if (a == entries_.end() || b->first < a->first) {
      merged.push_back(*b++);
    } else {
      merged.emplace_back(a->first, std::max(a->second, b->second));
      ++a;
      ++b;
    }
  }
  entries_ = std::move(merged);
}

size_t Object::ApproximateBytes() const {
  size_t bytes = sizeof(Object);
  for (const auto& [actor, counter] : vv.entries()) bytes += actor.size() + sizeof(counter);
  for (const auto& s : siblings) bytes += sizeof(Sibling) + s.dot.actor.size() + s.value.size();
  return bytes;
}

Status CheckObject(const Object& object) {
  const auto& entries = object.vv.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].first.empty() || entries[i].second == 0) {
      return Status::InvalidArgument("version vector holds an empty actor or a zero counter");
    }
    if (i > 0 && entries[i - 1].first >= entries[i].first) {
      return Status::InvalidArgument("version vector actors are not sorted and unique");
    }
  }
  std::vector<const Sibling*> by_dot;
  by_dot.reserve(object.siblings.size());
  for (const Sibling& sibling : object.siblings) {
    if (sibling.dot.counter == 0 || !object.vv.Covers(sibling.dot)) {
      return Status::InvalidArgument("sibling dot " + sibling.dot.actor + ":" +
                                     std::to_string(sibling.dot.counter) +
                                     " is not covered by the version vector");
    }
    by_dot.push_back(&sibling);
  }
  std::sort(by_dot.begin(), by_dot.end(), [](const Sibling* a, const Sibling* b) { return a->dot < b->dot; });
  auto same_dot = [](const Sibling* a, const Sibling* b) { return a->dot == b->dot; };
  if (std::adjacent_find(by_dot.begin(), by_dot.end(), same_dot) != by_dot.end()) {
    return Status::InvalidArgument("two siblings share a dot");
  }
  return Status::Ok();
}


void AppendVersionVector(std::string* out, const VersionVector& vv) {
  PutVarint64(out, vv.entries().size());
  for (const auto& [actor, counter] : vv.entries()) {
    PutLengthPrefixed(out, actor);
    PutVarint64(out, counter);
  }
}

Status ReadVersionVector(ByteReader* reader, VersionVector* vv) {
  uint64_t count = 0;
  if (!reader->GetVarint64(&count) || count > reader->remaining()) {
    return Status::Corruption("version vector: bad entry count");
  }
  std::vector<VersionVector::Entry> entries;
  entries.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view actor;
    uint64_t counter = 0;
    if (!reader->GetLengthPrefixed(&actor) || !reader->GetVarint64(&counter)) {
      return Status::Corruption("version vector: truncated entry");
    }
    if (counter == 0 || actor.empty()) return Status::Corruption("version vector: empty actor or zero counter");
    if (!entries.empty() && entries.back().first >= actor) {
      return Status::Corruption("version vector: actors not sorted");
    }
    entries.emplace_back(std::string(actor), counter);
  }
  *vv = VersionVector(std::move(entries));
  return Status::Ok();
}

}  // namespace dynkv
