#include "grpc-api/server/address.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "emulator/textproto.hpp"

namespace modemu::server {

std::optional<Address> parse_address(const std::string& text, std::string& error) {
  Address a;
  if (text.rfind("unix:", 0) == 0) {
    a.unix_socket = true;
    a.path = text.substr(5);
    if (a.path.empty()) {
      error = fmt::format("\"{}\": unix: needs a path (unix:/tmp/modemu.sock)", text);
      return std::nullopt;
    }
    return a;
  }
  std::string host = "127.0.0.1", port = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.empty()) host = "127.0.0.1";
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    error = fmt::format("\"{}\" is not unix:PATH or HOST:PORT (examples: unix:/tmp/modemu.sock, 127.0.0.1:50051)",
                        text);
    return std::nullopt;
  }
  a.host_port = host + ":" + port;
  return a;
}

std::filesystem::path default_socket_path() {
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime != '\0') {
    return std::filesystem::path(runtime) / "modemu" / "grpc.sock";
  }
  return std::filesystem::path(fmt::format("/tmp/modemu-{}", ::getuid())) / "grpc.sock";
}

std::string read_token_file(const std::filesystem::path& file) {
  std::string text = emulator::read_text_file(file);
  auto first = text.find_first_not_of(" \t\r\n");
  auto last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) throw std::runtime_error(fmt::format("{}: the token file is empty", file.string()));
  return text.substr(first, last - first + 1);
}

std::shared_ptr<grpc::Channel> make_channel(const ClientOptions& o) {
  Address a;
  if (o.address.empty()) {
    a.unix_socket = true;
    a.path = default_socket_path();
  } else {
    std::string error;
    auto parsed = parse_address(o.address, error);
    if (!parsed) throw std::invalid_argument(error);
    a = *parsed;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!o.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = emulator::read_text_file(o.tls_ca);
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(a.target(), creds, args);
}

}  // namespace modemu::server
