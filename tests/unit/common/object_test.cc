#include "common/object.h"

#include <doctest/doctest.h>

#include "common/coding.h"

namespace dynkv {

TEST_CASE("Raise keeps the actors sorted and counters at their maximum") {
  VersionVector vv;
  vv.Raise("b", 2);
  vv.Raise("a", 5);
  vv.Raise("b", 1);
  REQUIRE(vv.entries().size() == 2);
  CHECK(vv.entries()[0] == VersionVector::Entry{"a", 5});
  CHECK(vv.entries()[1] == VersionVector::Entry{"b", 2});
  CHECK(vv.Covers(Dot{"a", 5}));
  CHECK_FALSE(vv.Covers(Dot{"a", 6}));
  CHECK_FALSE(vv.Covers(Dot{"c", 1}));
}

TEST_CASE("Merge is the pointwise maximum and DescendedBy compares pointwise") {
  VersionVector a({{"a", 3}, {"c", 1}});
  VersionVector b({{"a", 1}, {"b", 4}});
  VersionVector m = a;
  m.Merge(b);
  CHECK(m == VersionVector({{"a", 3}, {"b", 4}, {"c", 1}}));
  CHECK(a.DescendedBy(m));
  CHECK(b.DescendedBy(m));
  CHECK_FALSE(a.DescendedBy(b));
}

TEST_CASE("a version vector round-trips through its binary form") {
  VersionVector vv({{"node1.0a0b0c0d", 7}, {"node2.ffffffff", 1ull << 40}});
  std::string buf;
  AppendVersionVector(&buf, vv);
  ByteReader reader(buf);
  VersionVector back;
  REQUIRE(ReadVersionVector(&reader, &back).ok());
  CHECK(back == vv);
  CHECK(reader.empty());
}

TEST_CASE("a version vector with unsorted actors or zero counters is corrupt") {
  std::string unsorted;
  PutVarint64(&unsorted, 2);
  PutLengthPrefixed(&unsorted, "b");
  PutVarint64(&unsorted, 1);
  PutLengthPrefixed(&unsorted, "a");
  PutVarint64(&unsorted, 1);
  ByteReader r1(unsorted);
  VersionVector vv;
  CHECK(ReadVersionVector(&r1, &vv).code() == Code::kCorruption);

  std::string zero;
  PutVarint64(&zero, 1);
  PutLengthPrefixed(&zero, "a");
  PutVarint64(&zero, 0);
  ByteReader r2(zero);
  CHECK(ReadVersionVector(&r2, &vv).code() == Code::kCorruption);
}

TEST_CASE("siblings expire at their expiry time and tombstones are never live") {
  Sibling s{Dot{"a", 1}, false, "v", 1000, 5000};
  CHECK(s.LiveAt(4999));
  CHECK_FALSE(s.LiveAt(5000));
  Sibling forever{Dot{"a", 2}, false, "v", 1000, 0};
  CHECK(forever.LiveAt(1'000'000'000'000));
  Sibling tomb{Dot{"a", 3}, true, "", 1000, 0};
  CHECK_FALSE(tomb.LiveAt(0));
}

}  // namespace dynkv
