#include "node/node.h"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <utility>

#include "common/log.h"

namespace dynkv::node {

namespace {

Status UvStatus(const char* what, int rc) {
  return rc == 0 ? Status::Ok() : Status::Internal(std::string(what) + ": " + uv_strerror(rc));
}

// Peers hold their connections open between bursts of traffic, and the
// failure detector takes a closed one as evidence against the peer: the
// idle timeout is for clients only.
net::ConnectionLimits PeerConnectionLimits(net::ConnectionLimits limits) {
  limits.idle_timeout_ms = 0;
  return limits;
}

uv_handle_t* AsHandle(void* handle) { return static_cast<uv_handle_t*>(handle); }

void CloseHandle(void* handle) {
  if (!uv_is_closing(AsHandle(handle))) uv_close(AsHandle(handle), nullptr);
}

// Tokens are secrets: say so when every user of the host may read them.
void WarnIfReadableByAll(const std::string& tokens_file) {
  struct stat info {};
  if (stat(tokens_file.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0) {
    DYNKV_LOG(kWarn) << "the client tokens file " << tokens_file
                     << " is readable by every user of this host; chmod o-r it";
  }
}

}  // namespace

Node::Node(Config config) : config_(std::move(config)) {}

Result<std::unique_ptr<Node>> Node::Start(const Config& config) {
  std::unique_ptr<Node> node(new Node(config));
  Status status = node->Open();
  if (!status.ok()) return status;
  return node;
}

Status Node::Open() {
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_loop_init", uv_loop_init(&loop_)));
  loop_open_ = true;
  DYNKV_RETURN_IF_ERROR(completions_.Open(&loop_));
  // Before the database opens and the ports listen: a SIGTERM from here on
  // (a supervisor that stops a node as soon as it answers) is a clean stop
  // once the loop runs, not the default action's death.
  DYNKV_RETURN_IF_ERROR(StartSignals());
  auto tls = LoadNodeTls(config_);
  if (!tls.ok()) return tls.status();
  tls_ = std::move(*tls);
  if (!config_.security.tls) {
    DYNKV_LOG(kWarn) << "security.tls is not set: the client and peer ports are plaintext, and any process that"
                     << " reaches the peer port is trusted as a node (docs/OPERATIONS.md, Security)";
  }
  net::PeerPoolOptions pool_options;
  pool_options.local_node_id = config_.node_id;
  pool_options.max_frame_bytes = config_.limits.max_frame_bytes;
  pool_options.source_host = config_.peer_address.host;
  pool_options.tls = tls_.peer_client;
  env_ = std::make_unique<UvEnv>(&loop_, clock_, completions_, pool_options);
  auto services = NodeServices::Open(config_, *env_);
  if (!services.ok()) return services.status();
  services_ = std::move(*services);
  services_->SetOnStop([this] { BeginShutdown(); });
  services_->client_service().AddStatsSource(
      [this](std::map<std::string, double>* values) {
        env_->FillStats(values);
        FillTlsStats(tls_, values);
      });
  OpenClientAuth();
  DYNKV_RETURN_IF_ERROR(OpenPorts());
  DYNKV_RETURN_IF_ERROR(services_->Start());
  DYNKV_LOG(kInfo) << "node " << config_.node_id << " (actor " << services_->identity().actor
                   << ") serving clients on " << config_.client_address.ToString() << ", peers on "
                   << config_.peer_address.ToString() << ", data in " << config_.data_dir;
  return Status::Ok();
}

void Node::OpenClientAuth() {
  if (!config_.security.clients.enabled()) {
    DYNKV_LOG(kWarn) << "security.clients is not set: every client that reaches " << config_.client_address.ToString()
                     << " may read, write and administer the cluster";
    return;
  }
  client_auth_ = std::make_unique<api::ClientAuth>(config_.security.clients.tokens_file,
                                                   std::move(config_.security.clients.tokens));
  services_->client_service().SetAuth(client_auth_.get());
  WarnIfReadableByAll(client_auth_->path());
  DYNKV_LOG(kInfo) << "clients need a token: " << client_auth_->tokens() << " tokens from " << client_auth_->path()
                   << " (SIGHUP rereads it)";
}

Status Node::OpenPorts() {
  server_ = std::make_unique<api::ClientServer>(
      &loop_, services_->client_service(),
      api::ServerOptions{.max_frame_bytes = config_.limits.max_frame_bytes,
                         .max_connections = config_.limits.max_connections,
                         .tls = tls_.client_server});
  services_->client_service().AddStatsSource(
      [this](std::map<std::string, double>* values) { server_->FillStats(values); });
  server_->GuardConnections(config_.limits.connections, clock_);
  DYNKV_RETURN_IF_ERROR(server_->Listen(config_.client_address));
  net::PeerServerOptions peer_options;
  peer_options.max_frame_bytes = config_.limits.max_frame_bytes;
  peer_options.tls = tls_.peer_server;
  peer_server_ = std::make_unique<net::PeerServer>(&loop_, services_->peer_handler(), peer_options);
  peer_server_->GuardConnections(PeerConnectionLimits(config_.limits.connections), clock_);
  services_->client_service().AddStatsSource([this](std::map<std::string, double>* values) {
    peer_server_->stats().guard.Fill("peer_server.", values);
  });
  DYNKV_RETURN_IF_ERROR(peer_server_->Listen(config_.peer_address));
  DYNKV_RETURN_IF_ERROR(OpenHttp());
  return OpenResp();
}

Status Node::OpenHttp() {
  if (!config_.http_address) return Status::Ok();
  http_server_ = std::make_unique<api::HttpServer>(&loop_, [this](std::string_view path) { return Http(path); });
  return http_server_->Listen(*config_.http_address);
}

api::HttpResponse Node::Http(std::string_view path) const {
  if (path == "/metrics") {
    const api::ClientService& service = services_->client_service();
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            api::RenderPrometheus(service.StatsValues(), service.request_metrics())};
  }
  if (path == "/health") {
    const std::string why = services_->NotServingReason();
    if (why.empty()) return {200, "text/plain; charset=utf-8", "ok\n"};
    return {503, "text/plain; charset=utf-8", why + "\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found: GET /metrics or /health\n"};
}

Status Node::OpenResp() {
  if (!config_.resp_address) return Status::Ok();
  api::ClientService& service = services_->client_service();
  resp_commands_ = std::make_unique<api::RespCommands>(service, clock_, api::RespNodeInfo{config_.node_id, kVersion},
                                                       [this] { return EstimateKeys(); });
  api::RespServerOptions options;
  options.max_connections = config_.limits.max_connections;
  options.max_bulk_bytes = config_.limits.max_frame_bytes;
  options.tls = tls_.client_server;
  resp_server_ = std::make_unique<api::RespServer>(&loop_, *resp_commands_, options);
  resp_server_->GuardConnections(config_.limits.connections, clock_);
  service.AddStatsSource([this](std::map<std::string, double>* values) { resp_server_->FillStats(values); });
  return resp_server_->Listen(*config_.resp_address);
}

std::optional<uint64_t> Node::EstimateKeys() const {
  const int64_t keys = services_->tree_keeper().published_keys();
  if (keys < 0) return std::nullopt;
  const double share = services_->membership().SelfReplicaShare();
  if (share <= 0) return static_cast<uint64_t>(keys);
  return static_cast<uint64_t>(static_cast<double>(keys) / share + 0.5);
}

Status Node::StartSignals() {
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_init", uv_signal_init(&loop_, &sigterm_)));
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_init", uv_signal_init(&loop_, &sigint_)));
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_init", uv_signal_init(&loop_, &sighup_)));
  sigterm_.data = sigint_.data = sighup_.data = this;
  auto on_hangup = [](uv_signal_t* handle, int) { static_cast<Node*>(handle->data)->ReloadTokens(); };
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_start", uv_signal_start(&sighup_, on_hangup, SIGHUP)));
  auto on_signal = [](uv_signal_t* handle, int signum) {
    DYNKV_LOG(kInfo) << "received signal " << signum << ", shutting down";
    static_cast<Node*>(handle->data)->BeginShutdown();
  };
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_start", uv_signal_start(&sigterm_, on_signal, SIGTERM)));
  return UvStatus("uv_signal_start", uv_signal_start(&sigint_, on_signal, SIGINT));
}

void Node::ReloadTokens() {
  if (client_auth_ == nullptr) {
    DYNKV_LOG(kInfo) << "received SIGHUP: nothing to reload (no security.clients)";
    return;
  }
  Status status = client_auth_->Reload();
  if (!status.ok()) {
    DYNKV_LOG(kError) << "received SIGHUP: keeping the " << client_auth_->tokens()
                      << " client tokens in use: " << status.message();
    return;
  }
  WarnIfReadableByAll(client_auth_->path());
  DYNKV_LOG(kInfo) << "received SIGHUP: " << client_auth_->tokens() << " client tokens from "
                   << client_auth_->path() << "; new connections use them";
}

void Node::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  CloseAll();
}

// Finish what the storage thread holds and answer it, then let every
// connection close after its last response.
void Node::CloseAll() {
  if (services_) services_->StopDrivers();
  if (http_server_) http_server_->Shutdown();
  if (peer_server_) peer_server_->Shutdown();
  if (env_) env_->ClosePeers();
  if (services_) services_->StopStorage(/*checkpoint=*/true);
  completions_.Drain();
  if (server_) server_->Shutdown();
  if (resp_server_) resp_server_->Shutdown();
  completions_.Close();
  for (void* handle : {static_cast<void*>(&sigterm_), static_cast<void*>(&sigint_), static_cast<void*>(&sighup_)}) {
    if (AsHandle(handle)->loop == &loop_) CloseHandle(handle);
  }
}

void Node::ReleaseHandles() {
  services_.reset();  // its timers close their handles
  server_.reset();
  http_server_.reset();
  resp_server_.reset();
  resp_commands_.reset();
  peer_server_.reset();
  env_.reset();
}

Status Node::Run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Every connection is closed; what still owns a handle (the env's timers,
  // the listeners) closes it now, and one more run frees them.
  ReleaseHandles();
  uv_run(&loop_, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(&loop_);
  loop_open_ = rc != 0;
  if (rc != 0) return Status::Internal(std::string("event loop did not close cleanly: ") + uv_strerror(rc));
  DYNKV_LOG(kInfo) << "node " << config_.node_id << " stopped";
  return Status::Ok();
}

Node::~Node() {
  if (loop_open_) {
    // Start() failed half-way, or Run() never ran: close what was opened.
    if (!shutting_down_) CloseAll();
    ReleaseHandles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
}

}  // namespace dynkv::node
