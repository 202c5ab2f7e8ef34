#pragma once
// The download port of EDL (05c6:9008) and of Quectel's download mode: the primary bootloader's
// Sahara, which loads a Firehose programmer and checks it against the profile, then the
// programmer itself (protocols/firehose) writing the modem's flash.
//
// Writes reach the flash as they arrive. The first write of a session sets Quectel's download
// flag; the programmer's power reset clears it. The power-cut control (Modem::program_budget)
// can cut the supply in the middle of a program: what arrived before is in the flash, nothing
// after, and the port says nothing more.
//
// The EM7565's boot-and-hold port (1199:9090) is the same pair without a programmer upload:
// libqmi's EXECUTE 0xff00 switches Sahara to Firehose, and each .cwe arrives as a program to
// start_sector -1 that goes whole into the module's Sierra firmware storage.
#include <memory>

#include "emulator/clock.hpp"
#include "emulator/port.hpp"
#include "protocols/common/bytes.hpp"

namespace modemu::protocols::sahara {
class Target;
}
namespace modemu::protocols::firehose {
class Target;
}

namespace modemu::emulator {

class Modem;
class EdlStorage;

class EdlPort final : public Port {
 public:
  EdlPort(PortInfo info, Modem& modem);
  ~EdlPort() override;
  void from_host(std::string_view bytes) override;
  // A host program opened the port: the bootloader says HELLO again (unless the programmer
  // already runs: then it is Firehose that answers).
  void host_opened() override;
  void started() override;

  // Stray input before the host's HELLO_RESP gets at most one new HELLO in this long: a tty's
  // echo of a HELLO (the updater had not made the port raw yet) arrives as one write per byte.
  static constexpr Duration kHelloRepeatHoldoff = std::chrono::seconds(1);

 private:
  void start_sahara();
  void start_firehose();
  void send(const protocols::Bytes& transfer);
  void progress(std::uint64_t done, std::uint64_t total);

  Modem& modem_;
  std::unique_ptr<EdlStorage> storage_;
  std::unique_ptr<protocols::sahara::Target> sahara_;
  std::unique_ptr<protocols::firehose::Target> firehose_;
  bool dead_ = false;          // the power is gone: nothing more goes out
  unsigned progress_step_ = 0; // the last tenth of a program reported
  std::uint64_t last_done_ = 0, last_total_ = 0;
  std::uint32_t program_index_ = 0;  // program commands of this session so far
  TimePoint last_hello_{};           // when the bootloader last said HELLO
};

}  // namespace modemu::emulator
