// The test binaries' main. Like dynkvd, the CLI and the benchmark, tests
// ignore SIGPIPE: a write to a socket the other end has closed must come
// back as EPIPE (a closed connection), not kill the process.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  return doctest::Context(argc, argv).run();
}
