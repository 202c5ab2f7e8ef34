#include "gadget/usbredir/usbredir_server.hpp"

#include <unistd.h>

#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <stdexcept>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

extern "C" {
#include <usbredirparser.h>
}

namespace modemu::gadget {
namespace asio = boost::asio;
namespace usb = modemu::protocols::usb;
using generic_socket = asio::generic::stream_protocol::socket;

// One peer: a usbredirparser in usb-host mode and what it waits on.
class Peer {
 public:
  using Sink = std::function<void(std::string)>;

  Peer(emulator::UsbDevice& device, Sink sink) : device_(device), sink_(std::move(sink)) {
    parser_ = usbredirparser_create();
    parser_->priv = this;
    parser_->log_func = [](void* p, int level, const char* msg) { static_cast<Peer*>(p)->log(level, msg); };
    parser_->read_func = [](void* p, uint8_t* data, int count) { return static_cast<Peer*>(p)->read(data, count); };
    parser_->write_func = [](void* p, uint8_t* data, int count) { return static_cast<Peer*>(p)->write(data, count); };
    parser_->hello_func = [](void* p, usb_redir_hello_header*) { static_cast<Peer*>(p)->hello(); };
    parser_->reset_func = [](void*) {};
    parser_->set_configuration_func = [](void* p, uint64_t id, usb_redir_set_configuration_header* h) {
      static_cast<Peer*>(p)->set_configuration(id, h->configuration);
    };
    parser_->get_configuration_func = [](void* p, uint64_t id) { static_cast<Peer*>(p)->configuration_status(id); };
    parser_->set_alt_setting_func = [](void* p, uint64_t id, usb_redir_set_alt_setting_header* h) {
      static_cast<Peer*>(p)->set_alt_setting(id, h->interface, h->alt);
    };
    parser_->get_alt_setting_func = [](void* p, uint64_t id, usb_redir_get_alt_setting_header* h) {
      static_cast<Peer*>(p)->alt_setting_status(id, h->interface);
    };
    parser_->start_interrupt_receiving_func = [](void* p, uint64_t id, usb_redir_start_interrupt_receiving_header* h) {
      static_cast<Peer*>(p)->interrupt_receiving(id, h->endpoint, true);
    };
    parser_->stop_interrupt_receiving_func = [](void* p, uint64_t id, usb_redir_stop_interrupt_receiving_header* h) {
      static_cast<Peer*>(p)->interrupt_receiving(id, h->endpoint, false);
    };
    parser_->start_iso_stream_func = [](void* p, uint64_t id, usb_redir_start_iso_stream_header* h) {
      static_cast<Peer*>(p)->refuse_iso(id, h->endpoint);
    };
    parser_->stop_iso_stream_func = [](void* p, uint64_t id, usb_redir_stop_iso_stream_header* h) {
      static_cast<Peer*>(p)->refuse_iso(id, h->endpoint);
    };
    parser_->alloc_bulk_streams_func = [](void* p, uint64_t id, usb_redir_alloc_bulk_streams_header* h) {
      static_cast<Peer*>(p)->refuse_streams(id, h->endpoints);
    };
    parser_->free_bulk_streams_func = [](void* p, uint64_t id, usb_redir_free_bulk_streams_header* h) {
      static_cast<Peer*>(p)->refuse_streams(id, h->endpoints);
    };
    parser_->cancel_data_packet_func = [](void* p, uint64_t id) { static_cast<Peer*>(p)->cancel(id); };
    parser_->filter_reject_func = [](void*) {};
    parser_->filter_filter_func = [](void* p, usbredirfilter_rule* rules, int) {
      free(rules);
      (void)p;
    };
    parser_->device_disconnect_ack_func = [](void* p) { static_cast<Peer*>(p)->disconnect_ack(); };
    parser_->start_bulk_receiving_func = [](void* p, uint64_t id, usb_redir_start_bulk_receiving_header* h) {
      static_cast<Peer*>(p)->refuse_bulk_receiving(id, h->endpoint);
    };
    parser_->stop_bulk_receiving_func = [](void* p, uint64_t id, usb_redir_stop_bulk_receiving_header* h) {
      static_cast<Peer*>(p)->refuse_bulk_receiving(id, h->endpoint);
    };
    parser_->control_packet_func = [](void* p, uint64_t id, usb_redir_control_packet_header* h, uint8_t* data, int len) {
      static_cast<Peer*>(p)->control(id, *h, data, len);
    };
    parser_->bulk_packet_func = [](void* p, uint64_t id, usb_redir_bulk_packet_header* h, uint8_t* data, int len) {
      static_cast<Peer*>(p)->bulk(id, *h, data, len);
    };
    parser_->iso_packet_func = [](void* p, uint64_t, usb_redir_iso_packet_header*, uint8_t* data, int) {
      static_cast<Peer*>(p)->free_data(data);
    };
    parser_->interrupt_packet_func = [](void* p, uint64_t id, usb_redir_interrupt_packet_header* h, uint8_t* data, int len) {
      static_cast<Peer*>(p)->interrupt_out(id, *h, data, len);
    };
    parser_->buffered_bulk_packet_func = [](void* p, uint64_t, usb_redir_buffered_bulk_packet_header*, uint8_t* data, int) {
      static_cast<Peer*>(p)->free_data(data);
    };
    // transports.md: these capabilities, and not bulk_receiving / bulk_streams, keep bulk IN a
    // plain request and response.
    uint32_t caps[USB_REDIR_CAPS_SIZE] = {};
    for (int cap : {usb_redir_cap_connect_device_version, usb_redir_cap_filter, usb_redir_cap_device_disconnect_ack,
                    usb_redir_cap_ep_info_max_packet_size, usb_redir_cap_64bits_ids, usb_redir_cap_32bits_bulk_length}) {
      usbredirparser_caps_set_cap(caps, cap);
    }
    usbredirparser_init(parser_, "modemu " MODEMU_VERSION, caps, USB_REDIR_CAPS_SIZE, usbredirparser_fl_usb_host);
    flush();
  }

  ~Peer() { usbredirparser_destroy(parser_); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Bytes from the peer. Returns false when the stream is broken beyond repair.
  bool receive(const std::uint8_t* data, std::size_t n) {
    in_.insert(in_.end(), data, data + n);
    while (!in_.empty()) {
      std::size_t before = in_.size();
      int r = usbredirparser_do_read(parser_);
      if (r == usbredirparser_read_io_error) break;
      if (r == usbredirparser_read_parse_error) {
        // The parser skipped the bad packet by its header's length and goes on.
        device_.modem().event("usb.usbredir", "malformed usbredir packet from the peer skipped");
      }
      if (in_.size() == before) break;
    }
    flush();
    return true;
  }

  void device_connected() {
    if (!hello_ || awaiting_ack_) return;
    announce();
    flush();
  }

  void device_disconnected() {
    pending_in_.clear();
    receiving_.clear();
    if (!hello_ || !announced_) return;
    usbredirparser_send_device_disconnect(parser_);
    announced_ = false;
    awaiting_ack_ = usbredirparser_peer_has_cap(parser_, usb_redir_cap_device_disconnect_ack) != 0;
    flush();
  }

  void data_ready(std::uint8_t endpoint) {
    if (!announced_) return;
    complete_pending(endpoint);
    flush();
  }

 private:
  void log(int level, const char* msg) {
    if (level <= usbredirparser_warning) device_.modem().event("usb.usbredir", msg);
  }

  int read(uint8_t* data, int count) {
    int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(count), in_.size()));
    std::memcpy(data, in_.data(), static_cast<std::size_t>(n));
    in_.erase(in_.begin(), in_.begin() + n);
    return n;
  }

  int write(uint8_t* data, int count) {
    out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(count));
    return count;
  }

  void flush() {
    while (usbredirparser_has_data_to_write(parser_) > 0) {
      if (usbredirparser_do_write(parser_) != 0) break;
    }
    if (!out_.empty()) sink_(std::exchange(out_, {}));
  }

  void free_data(uint8_t* data) {
    if (data != nullptr) usbredirparser_free_packet_data(parser_, data);
  }

  void hello() {
    hello_ = true;
    if (device_.connected()) announce();
  }

  // transports.md: ep_info, then interface_info, then device_connect; again before each
  // (re)connection and after SET_CONFIGURATION / SET_INTERFACE.
  void send_layout() {
    usb_redir_ep_info_header ep{};
    std::memset(ep.type, usb_redir_type_invalid, sizeof ep.type);
    ep.type[0] = ep.type[16] = usb_redir_type_control;
    ep.max_packet_size[0] = ep.max_packet_size[16] = device_.device_descriptor().bMaxPacketSize0;
    for (const auto& [address, e] : device_.endpoints()) {
      int index = ((address & 0x80) >> 3) | (address & 0x0f);
      ep.type[index] = (e.descriptor.bmAttributes & 3) == 3 ? usb_redir_type_interrupt : usb_redir_type_bulk;
      ep.interval[index] = e.descriptor.bInterval;
      ep.interface[index] = e.interface_number;
      ep.max_packet_size[index] = e.descriptor.wMaxPacketSize;
    }
    usbredirparser_send_ep_info(parser_, &ep);
    usb_redir_interface_info_header info{};
    std::set<std::uint8_t> seen;
    for (const auto& i : device_.configuration().interfaces) {
      if (!seen.insert(i.bInterfaceNumber).second || info.interface_count >= 32) continue;
      auto k = info.interface_count++;
      info.interface[k] = i.bInterfaceNumber;
      info.interface_class[k] = i.bInterfaceClass;
      info.interface_subclass[k] = i.bInterfaceSubClass;
      info.interface_protocol[k] = i.bInterfaceProtocol;
    }
    usbredirparser_send_interface_info(parser_, &info);
  }

  void announce() {
    send_layout();
    const auto& d = device_.device_descriptor();
    usb_redir_device_connect_header c{};
    c.speed = usb_redir_speed_high;
    c.device_class = d.bDeviceClass;
    c.device_subclass = d.bDeviceSubClass;
    c.device_protocol = d.bDeviceProtocol;
    c.vendor_id = d.idVendor;
    c.product_id = d.idProduct;
    c.device_version_bcd = d.bcdDevice;
    usbredirparser_send_device_connect(parser_, &c);
    announced_ = true;
    device_.modem().event("usb.usbredir", fmt::format("announced {:04x}:{:04x} to the peer", d.idVendor, d.idProduct));
  }

  void disconnect_ack() {
    awaiting_ack_ = false;
    if (device_.connected()) announce();
  }

  void set_configuration(uint64_t id, uint8_t configuration) {
    usb::SetupPacket s{0x00, usb::kSetConfiguration, configuration, 0, 0};
    bool ok = device_.connected() && !device_.control(s).stall;
    send_layout();
    usb_redir_configuration_status_header h{static_cast<uint8_t>(ok ? usb_redir_success : usb_redir_stall), configuration};
    usbredirparser_send_configuration_status(parser_, id, &h);
  }

  void configuration_status(uint64_t id) {
    usb_redir_configuration_status_header h{usb_redir_success, 1};
    usbredirparser_send_configuration_status(parser_, id, &h);
  }

  void set_alt_setting(uint64_t id, uint8_t interface, uint8_t alt) {
    usb::SetupPacket s{0x01, usb::kSetInterface, alt, interface, 0};
    bool ok = device_.connected() && !device_.control(s).stall;
    alternates_[interface] = alt;
    send_layout();
    usb_redir_alt_setting_status_header h{static_cast<uint8_t>(ok ? usb_redir_success : usb_redir_stall), interface, alt};
    usbredirparser_send_alt_setting_status(parser_, id, &h);
  }

  void alt_setting_status(uint64_t id, uint8_t interface) {
    usb_redir_alt_setting_status_header h{usb_redir_success, interface, alternates_[interface]};
    usbredirparser_send_alt_setting_status(parser_, id, &h);
  }

  void interrupt_receiving(uint64_t id, uint8_t endpoint, bool on) {
    bool known = device_.endpoints().count(endpoint) != 0;
    if (known && on) {
      receiving_.insert(endpoint);
      device_.rearm_interrupt(endpoint);
    }
    if (!on) receiving_.erase(endpoint);
    usb_redir_interrupt_receiving_status_header h{static_cast<uint8_t>(known ? usb_redir_success : usb_redir_stall), endpoint};
    usbredirparser_send_interrupt_receiving_status(parser_, id, &h);
    // QEMU drops interrupt packets sent before it starts receiving: what waited goes now.
    if (on && known) complete_pending(endpoint);
  }

  void refuse_iso(uint64_t id, uint8_t endpoint) {
    usb_redir_iso_stream_status_header h{};
    h.status = usb_redir_stall;
    h.endpoint = endpoint;
    usbredirparser_send_iso_stream_status(parser_, id, &h);
  }

  void refuse_streams(uint64_t id, uint32_t endpoints) {
    usb_redir_bulk_streams_status_header h{};
    h.endpoints = endpoints;
    h.status = usb_redir_stall;
    usbredirparser_send_bulk_streams_status(parser_, id, &h);
  }

  void refuse_bulk_receiving(uint64_t id, uint8_t endpoint) {
    usb_redir_bulk_receiving_status_header h{};
    h.endpoint = endpoint;
    h.status = usb_redir_stall;
    usbredirparser_send_bulk_receiving_status(parser_, id, &h);
  }

  void control(uint64_t id, usb_redir_control_packet_header h, uint8_t* data, int len) {
    usb::SetupPacket s{h.requesttype, h.request, h.value, h.index, h.length};
    protocols::ByteView out(data, static_cast<std::size_t>(data != nullptr && len > 0 ? len : 0));
    emulator::UsbDevice::ControlResult r;
    if (device_.connected()) {
      r = device_.control(s, s.device_to_host() ? protocols::ByteView{} : out);
    } else {
      r.stall = true;
    }
    free_data(data);
    h.status = r.stall ? usb_redir_stall : usb_redir_success;
    if (s.device_to_host()) {
      h.length = static_cast<uint16_t>(r.data.size());
      usbredirparser_send_control_packet(parser_, id, &h, r.data.empty() ? nullptr : r.data.data(),
                                         static_cast<int>(r.data.size()));
    } else {
      h.length = static_cast<uint16_t>(out.size());
      usbredirparser_send_control_packet(parser_, id, &h, nullptr, 0);
    }
  }

  void bulk(uint64_t id, usb_redir_bulk_packet_header h, uint8_t* data, int len) {
    std::uint32_t length = h.length | (static_cast<std::uint32_t>(h.length_high) << 16);
    if ((h.endpoint & 0x80) != 0) {
      free_data(data);
      if (!device_.connected() || !device_.is_in_endpoint(h.endpoint)) {
        reply_bulk(id, h.endpoint, usb_redir_stall, {});
        return;
      }
      // Held until the modem has something to say (transports.md: short replies are fine).
      pending_in_[h.endpoint].push_back({id, length});
      complete_pending(h.endpoint);
      return;
    }
    bool ok = device_.connected() && device_.write(h.endpoint, protocols::ByteView(data, static_cast<std::size_t>(len > 0 ? len : 0)));
    free_data(data);
    h.status = ok ? usb_redir_success : usb_redir_stall;
    usbredirparser_send_bulk_packet(parser_, id, &h, nullptr, 0);
  }

  void interrupt_out(uint64_t id, usb_redir_interrupt_packet_header h, uint8_t* data, int) {
    free_data(data);
    h.status = usb_redir_stall;  // the modems have no interrupt OUT endpoint
    h.length = 0;
    usbredirparser_send_interrupt_packet(parser_, id, &h, nullptr, 0);
  }

  void reply_bulk(uint64_t id, uint8_t endpoint, uint8_t status, const protocols::Bytes& data) {
    usb_redir_bulk_packet_header h{};
    h.endpoint = endpoint;
    h.status = status;
    h.length = static_cast<uint16_t>(data.size() & 0xffff);
    h.length_high = static_cast<uint16_t>(data.size() >> 16);
    usbredirparser_send_bulk_packet(parser_, id, &h, data.empty() ? nullptr : const_cast<uint8_t*>(data.data()),
                                    static_cast<int>(data.size()));
  }

  void complete_pending(std::uint8_t endpoint) {
    if (receiving_.count(endpoint) != 0) {
      while (device_.has_data(endpoint)) {
        auto data = device_.read(endpoint, 64);
        usb_redir_interrupt_packet_header h{endpoint, usb_redir_success, static_cast<uint16_t>(data.size())};
        usbredirparser_send_interrupt_packet(parser_, 0, &h, data.data(), static_cast<int>(data.size()));
      }
      return;
    }
    auto it = pending_in_.find(endpoint);
    if (it == pending_in_.end()) return;
    while (!it->second.empty() && device_.has_data(endpoint)) {
      auto [id, length] = it->second.front();
      it->second.pop_front();
      reply_bulk(id, endpoint, usb_redir_success, device_.read(endpoint, length));
    }
  }

  void cancel(uint64_t id) {
    for (auto& [endpoint, queue] : pending_in_) {
      for (auto it = queue.begin(); it != queue.end(); ++it) {
        if (it->first == id) {
          queue.erase(it);
          reply_bulk(id, endpoint, usb_redir_cancelled, {});
          return;
        }
      }
    }
    // Already completed: nothing to do (transports.md).
  }

  emulator::UsbDevice& device_;
  Sink sink_;
  usbredirparser* parser_ = nullptr;
  std::vector<std::uint8_t> in_;
  std::string out_;
  bool hello_ = false;
  bool announced_ = false;
  bool awaiting_ack_ = false;
  std::map<std::uint8_t, std::deque<std::pair<uint64_t, std::uint32_t>>> pending_in_;
  std::set<std::uint8_t> receiving_;
  std::map<std::uint8_t, std::uint8_t> alternates_;
};

struct UsbredirServer::Impl {
  asio::io_context& io;
  emulator::UsbDevice& device;
  asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor;
  std::string unix_path;
  std::unique_ptr<generic_socket> socket;
  std::unique_ptr<Peer> peer;
  std::array<std::uint8_t, 16384> buffer{};
  std::deque<std::string> writes;
  bool writing = false;
  std::uint64_t generation = 0;  // which connection a queued handler belongs to
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(asio::io_context& context, emulator::UsbDevice& d) : io(context), device(d), acceptor(context) {}

  void accept() {
    std::weak_ptr<bool> guard = alive;
    acceptor.async_accept([this, guard](const boost::system::error_code& ec, generic_socket s) {
      auto g = guard.lock();
      if (!g || !*g || ec == asio::error::operation_aborted) return;
      if (!ec) start(std::make_unique<generic_socket>(std::move(s)));
      accept();
    });
  }

  void start(std::unique_ptr<generic_socket> s) {
    drop("a new peer connected");
    socket = std::move(s);
    ++generation;
    std::uint64_t gen = generation;
    device.modem().event("usb.usbredir", "peer connected");
    peer = std::make_unique<Peer>(device, [this, gen](std::string bytes) { send(gen, std::move(bytes)); });
    read(gen);
  }

  void drop(const std::string& why) {
    if (!socket) return;
    boost::system::error_code ec;
    socket->close(ec);
    socket.reset();
    peer.reset();
    writes.clear();
    writing = false;
    device.modem().event("usb.usbredir", fmt::format("peer gone ({})", why));
  }

  void read(std::uint64_t gen) {
    std::weak_ptr<bool> guard = alive;
    socket->async_read_some(asio::buffer(buffer), [this, guard, gen](const boost::system::error_code& ec, std::size_t n) {
      auto g = guard.lock();
      if (!g || !*g || gen != generation || !socket) return;
      if (ec) {
        drop(ec == asio::error::eof ? "closed the connection" : ec.message());
        return;
      }
      peer->receive(buffer.data(), n);
      if (gen == generation && socket) read(gen);
    });
  }

  void send(std::uint64_t gen, std::string bytes) {
    if (gen != generation || !socket) return;
    writes.push_back(std::move(bytes));
    pump(gen);
  }

  void pump(std::uint64_t gen) {
    if (writing || writes.empty()) return;
    writing = true;
    std::weak_ptr<bool> guard = alive;
    asio::async_write(*socket, asio::buffer(writes.front()), [this, guard, gen](const boost::system::error_code& ec, std::size_t) {
      auto g = guard.lock();
      if (!g || !*g || gen != generation || !socket) return;
      writing = false;
      if (ec) {
        drop(ec.message());
        return;
      }
      writes.pop_front();
      pump(gen);
    });
  }
};

UsbredirServer::UsbredirServer(asio::io_context& io, emulator::UsbDevice& device, const std::string& listen)
    : impl_(std::make_unique<Impl>(io, device)), address_(listen) {
  boost::system::error_code ec;
  if (listen.rfind("unix:", 0) == 0) {
    std::string path = listen.substr(5);
    if (path.empty()) throw std::invalid_argument("--listen unix:PATH needs a path");
    ::unlink(path.c_str());  // a socket left by an earlier run
    asio::local::stream_protocol::endpoint ep(path);
    impl_->acceptor.open(asio::generic::stream_protocol(AF_UNIX, 0));
    impl_->acceptor.bind(asio::generic::stream_protocol::endpoint(ep), ec);
    impl_->unix_path = path;
  } else if (listen.rfind("tcp:", 0) == 0) {
    std::string rest = listen.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument(fmt::format("--listen {}: use tcp:HOST:PORT", listen));
    std::string host = rest.substr(0, colon);
    if (host.empty()) host = "127.0.0.1";
    unsigned long port = 0;
    try {
      port = std::stoul(rest.substr(colon + 1));
    } catch (const std::exception&) {
      port = 0;
    }
    if (port == 0 || port > 65535) throw std::invalid_argument(fmt::format("--listen {}: bad port", listen));
    auto address = asio::ip::make_address(host, ec);
    if (ec) throw std::invalid_argument(fmt::format("--listen {}: bad address \"{}\"", listen, host));
    asio::ip::tcp::endpoint ep(address, static_cast<unsigned short>(port));
    impl_->acceptor.open(asio::generic::stream_protocol(ep.protocol().family(), IPPROTO_TCP));
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(asio::generic::stream_protocol::endpoint(ep), ec);
  } else {
    throw std::invalid_argument(fmt::format("--listen {}: use unix:PATH or tcp:HOST:PORT", listen));
  }
  if (ec) throw std::runtime_error(fmt::format("cannot listen on {}: {}", listen, ec.message()));
  impl_->acceptor.listen();
  device.set_listener(this);
  impl_->accept();
}

UsbredirServer::~UsbredirServer() {
  *impl_->alive = false;
  impl_->device.set_listener(nullptr);
  impl_->drop("the emulator stops");
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  if (!impl_->unix_path.empty()) ::unlink(impl_->unix_path.c_str());
}

bool UsbredirServer::client_connected() const { return impl_->peer != nullptr; }

void UsbredirServer::on_connect(emulator::UsbDevice&) {
  if (impl_->peer) impl_->peer->device_connected();
}

void UsbredirServer::on_disconnect(emulator::UsbDevice&) {
  if (impl_->peer) impl_->peer->device_disconnected();
}

void UsbredirServer::on_data_ready(emulator::UsbDevice&, std::uint8_t endpoint) {
  if (impl_->peer) impl_->peer->data_ready(endpoint);
}

std::string usbredir_feed_for_test(emulator::UsbDevice& device, const std::string& bytes) {
  std::string out;
  Peer peer(device, [&](std::string b) { out += b; });
  peer.receive(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return out;
}

}  // namespace modemu::gadget
