// ContextTable's file: what one dynkv-bench run saw, the next run starts from.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "../storage/temp_dir.h"
#include "bench/store.h"

namespace dynkv::bench {

using storage::TempDir;

TEST_CASE("contexts saved by one run are what the next run loads") {
  TempDir dir;
  const std::string path = dir.Sub("contexts");
  ContextTable first(1000);
  first.Set(0, "ctx-zero");
  first.Set(999, std::string("\0binary\xff", 8));
  first.Set(500, "");  // nothing seen: not written
  REQUIRE(first.Save(path).ok());

  ContextTable next(1000);
  REQUIRE(next.Load(path).ok());
  CHECK(next.Get(0) == "ctx-zero");
  CHECK(next.Get(999) == std::string("\0binary\xff", 8));
  CHECK(next.Get(500).empty());
  CHECK(next.Get(1).empty());
}

TEST_CASE("no contexts file yet is an empty table") {
  TempDir dir;
  ContextTable table(10);
  CHECK(table.Load(dir.Sub("missing")).ok());
  CHECK(table.Get(3).empty());
}

TEST_CASE("a file that is not a contexts file, a truncated one, or one for more keys is refused by name") {
  TempDir dir;
  const std::string path = dir.Sub("contexts");
  ContextTable big(100);
  big.Set(99, "ctx");
  REQUIRE(big.Save(path).ok());
  ContextTable small(10);
  Status refused = small.Load(path);
  CHECK(refused.code() == Code::kInvalidArgument);
  CHECK(refused.message().find(path) != std::string::npos);
  CHECK(refused.message().find("beyond --keys 10") != std::string::npos);

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 1));
  }
  ContextTable truncated(100);
  CHECK(truncated.Load(path).message().find("truncated") != std::string::npos);

  {
    std::ofstream out(path, std::ios::trunc);
    out << "key,context\n";
  }
  ContextTable other(100);
  CHECK(other.Load(path).message().find("not a dynkv-bench contexts file") != std::string::npos);
}

}  // namespace dynkv::bench
