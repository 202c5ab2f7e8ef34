#pragma once
// The modemu.v1 API server (grpc-api/proto/modemu/v1/modemu.proto): the modems of one process,
// created, faulted, watched and removed over gRPC.
//
// Threading: the modems, their faults, scenarios and transports live on the io_context's thread
// (one executor, like `modemu run`). gRPC handlers run on gRPC's threads: they post their work
// to the io thread and wait for the answer, never the other way round, so nothing a client does
// blocks the modems. Event streams take events from the log through a queue per stream.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "emulator/modem.hpp"
#include "grpc-api/server/address.hpp"
#include "scenarios/fleet.hpp"

namespace modemu::server {

struct ServerOptions {
  // What every modem shares: state root, time scale, power restore after a cut, personal info.
  emulator::ModemOptions base;
  // Every call must carry "authorization: Bearer TOKEN" when set.
  std::string token;
  // Events a stream may have queued before the server ends it (RESOURCE_EXHAUSTED: the client
  // reads too slowly; it resumes from the last seq it saw).
  std::size_t watch_queue_limit = 200'000;
};

struct Listener {
  Address address;
  std::filesystem::path tls_cert;  // TCP: PEM certificate chain and key (both, or neither)
  std::filesystem::path tls_key;
};

class ApiServer {
 public:
  ApiServer(boost::asio::io_context& io, scenarios::Fleet& fleet, ServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Listens on every address (a unix socket is made mode 0600; a stale one is replaced, a live
  // one is an error); throws std::runtime_error naming the address that failed. Returns the
  // addresses as clients reach them (a TCP port 0 becomes the port chosen).
  std::vector<std::string> start(const std::vector<Listener>& listeners);
  // Ends the streams, waits for the calls in flight (a second at most), stops listening. Not
  // from the io thread: the calls in flight need it.
  void shutdown();
  // On the io thread, once the io_context no longer runs handlers: transports go, faults end.
  void release_modems();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modemu::server
