#pragma once
// QMUX framing and the QMI message header (qmi.md "Framing"):
//
//   u8  marker 0x01 | u16 length (bytes after the marker) | u8 flags (0x00 host->modem,
//   0x80 modem->host) | u8 service | u8 client id
//   CTL:      u8 flags (bit 0 response, bit 1 indication) | u8 transaction | u16 message | u16 TLV length
//   services: u8 flags (bit 1 response, bit 2 indication) | u16 transaction | u16 message | u16 TLV length
//   TLV:      u8 type | u16 length | value                                    (all little-endian)
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::qmi {

inline constexpr std::uint8_t kQmuxMarker = 0x01;
inline constexpr std::uint8_t kServiceCtl = 0x00;
inline constexpr std::uint8_t kBroadcastClient = 0xff;

enum class MessageType { kRequest, kResponse, kIndication };

struct Tlv {
  std::uint8_t type = 0;
  Bytes value;
};

struct Message {
  std::uint8_t service = 0;
  std::uint8_t client_id = 0;
  MessageType type = MessageType::kRequest;
  std::uint16_t transaction = 0;  // CTL transactions are one byte on the wire
  std::uint16_t message_id = 0;
  std::vector<Tlv> tlvs;

  bool is_ctl() const { return service == kServiceCtl; }
  const Tlv* find(std::uint8_t tlv_type) const;
};

// A whole QMUX frame (with its marker) for a message. Throws std::length_error when the
// message does not fit the u16 length fields.
Bytes encode(const Message& message);

struct DecodeError {
  std::string reason;
};

// Decodes one frame as the Framer returns it. Every length is checked against the frame.
struct Decoded {
  std::optional<Message> message;
  std::optional<DecodeError> error;
};
Decoded decode(ByteView frame);

// Splits a byte stream into QMUX frames. Four outcomes (DESIGN.md "Bad input"):
//   kNeedMore   no complete frame yet
//   kFrame      `frame` holds one complete frame
//   kMalformed  a frame whose length cannot hold a QMI header was dropped; framing goes on
//   kLostSync   bytes that do not start a frame were skipped up to the next marker
class Framer {
 public:
  enum class Outcome { kNeedMore, kFrame, kMalformed, kLostSync };
  struct Result {
    Outcome outcome = Outcome::kNeedMore;
    Bytes frame;
    std::size_t dropped = 0;  // bytes discarded (kMalformed, kLostSync)
  };

  // The smallest length field that holds a QMUX header and a CTL header.
  static constexpr std::size_t kMinLength = 5 + 6;

  void push(ByteView bytes);
  Result next();
  std::size_t buffered() const { return buffer_.size() - start_; }
  void clear();

 private:
  Bytes buffer_;
  std::size_t start_ = 0;
};

}  // namespace modemu::protocols::qmi
