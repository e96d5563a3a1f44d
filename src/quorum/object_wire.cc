#include "quorum/object_wire.h"

#include <utility>
#include <vector>

namespace dynkv::quorum {

void ToProto(const Object& object, peer::StoredObject* out) {
  for (const auto& [actor, counter] : object.vv.entries()) {
    peer::VersionEntry* entry = out->add_version();
    entry->set_actor(actor);
    entry->set_counter(counter);
  }
  for (const Sibling& s : object.siblings) {
    peer::StoredSibling* sibling = out->add_siblings();
    sibling->set_actor(s.dot.actor);
    sibling->set_counter(s.dot.counter);
    sibling->set_tombstone(s.tombstone);
    sibling->set_value(s.value);
    sibling->set_write_time_ms(s.write_time_ms);
    sibling->set_expires_at_ms(s.expires_at_ms);
  }
}

Result<Object> FromProto(const peer::StoredObject& in) {
  std::vector<VersionVector::Entry> entries;
  entries.reserve(in.version_size());
  for (const peer::VersionEntry& entry : in.version()) entries.emplace_back(entry.actor(), entry.counter());
  Object object;
  object.vv = VersionVector(std::move(entries));
  object.siblings.reserve(in.siblings_size());
  for (const peer::StoredSibling& s : in.siblings()) {
    object.siblings.push_back(
        Sibling{Dot{s.actor(), s.counter()}, s.tombstone(), s.value(), s.write_time_ms(), s.expires_at_ms()});
  }
  Status valid = CheckObject(object);
  if (!valid.ok()) return valid.WithContext("object from a peer");
  return object;
}

}  // namespace dynkv::quorum
