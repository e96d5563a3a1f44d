// Dotted version vectors: the causal algebra over Object (DESIGN.md:
// Causality). Pure functions, no I/O, no clock.
//
// An Object is a set of siblings, each tagged with the dot (actor, counter)
// that minted it, plus a version vector of everything the object has seen.
// Following Preguiça et al., "Dotted Version Vectors: Logical Clocks for
// Optimistic Replication" (2010) and Riak's dvvset: a write carries the
// context (version vector) its client read; siblings that context covers
// are replaced, the rest stay, so concurrent writes become siblings and no
// write is silently lost.
#pragma once

#include <string>
#include <string_view>

#include "common/object.h"
#include "common/status.h"

namespace dynkv::dvv {

// A client write (a value or a tombstone) applied at `actor`'s replica.
// Mints the dot (actor, max(current.vv[actor], context[actor]) + 1) for
// `sibling` (whose dot is overwritten), drops the siblings of `current`
// covered by `context`, keeps every other sibling, and returns the object
// whose version vector is current.vv ∪ context ∪ {new dot}.
//
// `floor`: the least counter the dot may take. A replica minting into a key
// it holds nothing of passes one above every counter it has ever minted:
// its counter for the key lives in the stored object, and an object that
// was reaped (or never held here) may still exist elsewhere with dots of
// this actor, e.g. a tombstone on a replica that has not reaped it yet,
// whose version vector would cover a reused dot and drop the new value.
// The new object then claims to have seen the actor's smaller dots, which
// only drops siblings of it that were deleted (reaped) already.
Object Update(const Object& current, const VersionVector& context, const ActorId& actor, Sibling sibling,
              uint64_t floor = 0);

// Merges two replicas of one key. A sibling survives when the other side
// also has it or has not seen its dot; the version vectors merge pointwise.
// Commutative, associative and idempotent; the siblings of the result are
// sorted by dot.
Object Sync(const Object& a, const Object& b);

// The opaque context handed to clients: a version byte then the binary
// version vector. An empty string is the empty context.
std::string EncodeContext(const VersionVector& vv);
// INVALID_ARGUMENT when the bytes are not a context this version wrote.
Result<VersionVector> DecodeContext(std::string_view bytes);

}  // namespace dynkv::dvv
