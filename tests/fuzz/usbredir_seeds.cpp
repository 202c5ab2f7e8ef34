// Writes seed inputs for the usbredir fuzz target: what QEMU (the usbredir guest side) sends
// when it attaches a modem and drives it: hello, configuration, descriptor requests, class
// requests, bulk transfers, interrupt receiving, cancels. Built with the tests; run by hand:
//   build/debug/tests/fuzz/usbredir_seeds tests/fuzz/corpus/usbredir
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include <usbredirparser.h>
}

namespace {

std::string out;

usbredirparser* guest() {
  out.clear();
  usbredirparser* p = usbredirparser_create();
  p->write_func = [](void*, uint8_t* data, int count) {
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(count));
    return count;
  };
  p->read_func = [](void*, uint8_t*, int) { return 0; };
  p->log_func = [](void*, int, const char* msg) { std::fprintf(stderr, "usbredir: %s\n", msg); };
  uint32_t caps[USB_REDIR_CAPS_SIZE] = {};
  for (int cap : {usb_redir_cap_connect_device_version, usb_redir_cap_filter, usb_redir_cap_device_disconnect_ack,
                  usb_redir_cap_ep_info_max_packet_size, usb_redir_cap_64bits_ids, usb_redir_cap_32bits_bulk_length}) {
    usbredirparser_caps_set_cap(caps, cap);
  }
  usbredirparser_init(p, "seed", caps, USB_REDIR_CAPS_SIZE, 0);
  return p;
}

void flush(usbredirparser* p) {
  while (usbredirparser_has_data_to_write(p) > 0) usbredirparser_do_write(p);
}

void control(usbredirparser* p, uint64_t id, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length,
             std::vector<uint8_t> data = {}) {
  usb_redir_control_packet_header h{static_cast<uint8_t>(type & 0x80), req, type, 0, value, index, length};
  usbredirparser_send_control_packet(p, id, &h, data.empty() ? nullptr : data.data(), static_cast<int>(data.size()));
}

void bulk(usbredirparser* p, uint64_t id, uint8_t ep, uint32_t length, std::vector<uint8_t> data = {}) {
  usb_redir_bulk_packet_header h{};
  h.endpoint = ep;
  h.length = static_cast<uint16_t>(length & 0xffff);
  h.length_high = static_cast<uint16_t>(length >> 16);
  usbredirparser_send_bulk_packet(p, id, &h, data.empty() ? nullptr : data.data(), static_cast<int>(data.size()));
}

void save(const std::string& dir, const std::string& name) {
  std::ofstream(dir + "/" + name, std::ios::binary) << out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: usbredir_seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  {  // enumeration as QEMU does it
    auto* p = guest();
    usb_redir_set_configuration_header c{1};
    control(p, 1, 0x80, 6, 0x0100, 0, 18);
    control(p, 2, 0x80, 6, 0x0200, 0, 9);
    control(p, 3, 0x80, 6, 0x0200, 0, 255);
    control(p, 4, 0x80, 6, 0x0300, 0, 255);
    control(p, 5, 0x80, 6, 0x0302, 0x0409, 255);
    control(p, 6, 0x80, 6, 0x0600, 0, 10);
    usbredirparser_send_set_configuration(p, 7, &c);
    flush(p);
    save(dir, "enumeration");
    usbredirparser_destroy(p);
  }
  {  // AT on interface 2: DTR up, ATI out, a read held, a cancel
    auto* p = guest();
    control(p, 1, 0x21, 0x22, 3, 2, 0);
    bulk(p, 2, 0x03, 4, {'A', 'T', 'I', '\r'});
    bulk(p, 3, 0x84, 4096);
    bulk(p, 4, 0x84, 4096);
    usbredirparser_send_cancel_data_packet(p, 4);
    control(p, 5, 0x21, 0x22, 0, 2, 0);
    flush(p);
    save(dir, "at-session");
    usbredirparser_destroy(p);
  }
  {  // QMI: interrupt receiving, an encapsulated command, the response fetch
    auto* p = guest();
    usb_redir_start_interrupt_receiving_header s{0x89};
    usbredirparser_send_start_interrupt_receiving(p, 1, &s);
    std::vector<uint8_t> alloc = {0x01, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x22, 0x00, 0x04, 0x00, 0x01, 0x01, 0x00, 0x02};
    control(p, 2, 0x21, 0x00, 0, 4, static_cast<uint16_t>(alloc.size()), alloc);
    control(p, 3, 0xa1, 0x01, 0, 4, 4096);
    usb_redir_stop_interrupt_receiving_header t{0x89};
    usbredirparser_send_stop_interrupt_receiving(p, 4, &t);
    flush(p);
    save(dir, "qmi-session");
    usbredirparser_destroy(p);
  }
  {  // a reset command on the AT port, and the disconnect ack QEMU sends back
    auto* p = guest();
    control(p, 1, 0x21, 0x22, 3, 2, 0);
    std::string cmd = "AT+CFUN=1,1\r";
    bulk(p, 2, 0x03, static_cast<uint32_t>(cmd.size()), std::vector<uint8_t>(cmd.begin(), cmd.end()));
    usbredirparser_send_reset(p);
    flush(p);
    save(dir, "reset");
    usbredirparser_destroy(p);
  }
  return 0;
}
