#pragma once
// Where the API listens and how clients reach it: `--grpc unix:PATH` or `--grpc HOST:PORT`
// (serve and ctl), the default unix socket under the runtime directory, and the bearer token.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>

namespace modemu::server {

struct Address {
  bool unix_socket = false;
  std::filesystem::path path;  // unix
  std::string host_port;       // TCP: "127.0.0.1:50051"
  // The form gRPC takes: "unix:/run/user/1000/modemu/grpc.sock", "127.0.0.1:50051".
  std::string target() const { return unix_socket ? "unix:" + path.string() : host_port; }
};

// "unix:PATH" (an absolute or relative path), "HOST:PORT", ":PORT" or "PORT" (127.0.0.1),
// "[::1]:PORT". Nothing (with `error` set) when it does not parse.
std::optional<Address> parse_address(const std::string& text, std::string& error);

// $XDG_RUNTIME_DIR/modemu/grpc.sock, else /tmp/modemu-UID/grpc.sock.
std::filesystem::path default_socket_path();

// A token file's content without surrounding white space; throws std::runtime_error naming the
// file when it cannot be read or is empty.
std::string read_token_file(const std::filesystem::path& file);

struct ClientOptions {
  std::string address;   // "" = the default unix socket
  std::string token;     // sent as "authorization: Bearer TOKEN" when not empty
  std::string tls_ca;    // TCP with TLS: the CA (or self-signed certificate) to trust
};

// A channel to the server; throws std::invalid_argument on a bad address or unreadable file.
std::shared_ptr<grpc::Channel> make_channel(const ClientOptions& options);

}  // namespace modemu::server
