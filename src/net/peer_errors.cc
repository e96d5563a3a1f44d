// PeerError <-> Status. The wire codes follow Code one-to-one where both
// have the code (DESIGN.md: Wire protocol).
#include "net/peer_transport.h"

namespace dynkv::net {

Status StatusFromPeerError(const peer::PeerError& error) {
  switch (error.code()) {
    case peer::PEER_INVALID_ARGUMENT:
      return Status::InvalidArgument(error.message());
    case peer::PEER_TOO_LARGE:
      return Status::TooLarge(error.message());
    case peer::PEER_UNAVAILABLE:
      return Status::Unavailable(error.message());
    case peer::PEER_TIMEOUT:
      return Status::Timeout(error.message());
    case peer::PEER_OVERLOADED:
      return Status::Overloaded(error.message());
    case peer::PEER_STORAGE_ERROR:
      return Status::StorageError(error.message());
    case peer::PEER_WRONG_CLUSTER:
      return Status::InvalidArgument("wrong cluster: " + error.message());
    default:  // PEER_INTERNAL, unset, or a code from a newer node
      return Status::Internal(error.message());
  }
}

peer::PeerResponse PeerErrorResponse(const Status& status) {
  peer::PeerResponse response;
  *response.mutable_error() = PeerErrorFromStatus(status);
  return response;
}

peer::PeerError PeerErrorFromStatus(const Status& status) {
  peer::PeerError error;
  switch (status.code()) {
    case Code::kInvalidArgument:
      error.set_code(peer::PEER_INVALID_ARGUMENT);
      break;
    case Code::kTooLarge:
      error.set_code(peer::PEER_TOO_LARGE);
      break;
    case Code::kUnavailable:
      error.set_code(peer::PEER_UNAVAILABLE);
      break;
    case Code::kTimeout:
      error.set_code(peer::PEER_TIMEOUT);
      break;
    case Code::kOverloaded:
      error.set_code(peer::PEER_OVERLOADED);
      break;
    case Code::kStorageError:
      error.set_code(peer::PEER_STORAGE_ERROR);
      break;
    case Code::kInternal:
      error.set_code(peer::PEER_INTERNAL);
      break;
    default:  // no wire code of its own: keep its name in the message
      error.set_code(peer::PEER_INTERNAL);
      error.set_message(status.ToString());
      return error;
  }
  error.set_message(status.message());
  return error;
}

}  // namespace dynkv::net
