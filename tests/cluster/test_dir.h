// A fresh directory for one cluster test's data dirs: $DYNKV_TEST_TMP (or
// the system's temporary directory) / <name>, emptied first.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace dynkv::sim {

inline std::string FreshTestDir(const std::string& name) {
  namespace fs = std::filesystem;
  const char* root = std::getenv("DYNKV_TEST_TMP");
  fs::path dir = fs::path(root != nullptr ? root : fs::temp_directory_path().string()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

}  // namespace dynkv::sim
