// The node's TLS contexts, made from security.tls (config.h) once at start.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/tls.h"
#include "node/config.h"

namespace dynkv::node {

struct NodeTls {
  // The peer port: only peers with a certificate the cluster CA signed.
  std::shared_ptr<const net::TlsContext> peer_server;
  // Connections to peers: presents this node's certificate, checks theirs.
  std::shared_ptr<const net::TlsContext> peer_client;
  // The client and RESP ports: the node proves itself; clients prove
  // themselves with tokens, if at all.
  std::shared_ptr<const net::TlsContext> client_server;
};

// All null without security.tls. INVALID_ARGUMENT "security.tls: ..." naming
// a file that cannot be used (missing, not PEM, a key of another
// certificate); --check-config runs this too.
Result<NodeTls> LoadNodeTls(const Config& config);

// "tls.<port>.handshakes", ".handshake_failures", ".plaintext_refused" for
// the node's stats; nothing without TLS.
void FillTlsStats(const NodeTls& tls, std::map<std::string, double>* values);

}  // namespace dynkv::node
