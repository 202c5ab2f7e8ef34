#pragma once
// "HOST:PORT" as the TCP listeners take it (usbip --listen, usb2tcp, usbredir tcp:HOST:PORT):
// a numeric address (IPv6 in brackets) and a port 0..65535; an empty HOST is `default_host`.
#include <optional>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace modemu::gadget {

std::optional<boost::asio::ip::tcp::endpoint> parse_host_port(std::string_view text,
                                                              std::string_view default_host = "127.0.0.1");

}  // namespace modemu::gadget
