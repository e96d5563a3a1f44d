// The cluster-administration commands of the dynkv CLI: members, ring,
// leave and remove.
#pragma once

#include "client/client.h"

namespace dynkv::cli {

// Each prints its answer (a table, or JSON when `json`) and returns the
// Status of the request.
Status PrintMembers(client::Client& c, bool json);
Status PrintRing(client::Client& c, bool json);
Status LeaveCluster(client::Client& c, const std::string& node);
Status RemoveNode(client::Client& c, const std::string& node_id);

}  // namespace dynkv::cli
