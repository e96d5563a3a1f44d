#include "node/node_tls.h"

namespace dynkv::node {
namespace {

Result<std::shared_ptr<const net::TlsContext>> Make(net::TlsContext::Mode mode, const net::TlsFiles& files) {
  auto context = net::TlsContext::Create(mode, files);
  if (!context.ok()) return context.status().WithContext("security.tls");
  return std::shared_ptr<const net::TlsContext>(std::move(*context));
}

}  // namespace

Result<NodeTls> LoadNodeTls(const Config& config) {
  NodeTls tls;
  if (!config.security.tls) return tls;
  using Mode = net::TlsContext::Mode;
  auto peer_server = Make(Mode::kServerMutual, *config.security.tls);
  if (!peer_server.ok()) return peer_server.status();
  auto peer_client = Make(Mode::kClient, *config.security.tls);
  if (!peer_client.ok()) return peer_client.status();
  auto client_server = Make(Mode::kServer, *config.security.tls);
  if (!client_server.ok()) return client_server.status();
  tls.peer_server = std::move(*peer_server);
  tls.peer_client = std::move(*peer_client);
  tls.client_server = std::move(*client_server);
  return tls;
}

void FillTlsStats(const NodeTls& tls, std::map<std::string, double>* values) {
  for (const auto& [port, context] : {std::pair{"peer", tls.peer_server}, std::pair{"peer_out", tls.peer_client},
                                      std::pair{"client", tls.client_server}}) {
    if (context == nullptr) continue;
    const net::TlsStats& stats = context->stats();
    const std::string prefix = std::string("tls.") + port + ".";
    (*values)[prefix + "handshakes"] = static_cast<double>(stats.handshakes.load());
    (*values)[prefix + "handshake_failures"] = static_cast<double>(stats.handshake_failures.load());
    if (context->server()) (*values)[prefix + "plaintext_refused"] = static_cast<double>(stats.plaintext_refused.load());
  }
}

}  // namespace dynkv::node
