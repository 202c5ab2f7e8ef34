#pragma once
// The scripted host: what a router's updater does, in-process, through the modem's own ports
// (no transport, no kernel), so that scenarios and tests can replay a recovery path under
// virtual time. It claims the port as a usbfs updater detaches the kernel driver.
//
// A firmware update as QFirehose does it: the DIAG switch on the DM port when the module runs
// its application, then on the EDL (or download-mode) port: Sahara serving the programmer,
// Firehose configure, the SBL erased first, every image programmed, the SBL last, and the power
// reset. On a Sierra module: a boot-and-hold reset, then qmi-firmware-update's QDL download of
// the release's .cwe and .nvu on the boot-and-hold port, then the QDL reset.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/data/data_path.hpp"
#include "emulator/firmware/image.hpp"
#include "emulator/modem.hpp"

namespace modemu::emulator::sierra {
class Store;
}

namespace modemu::scenarios {

// One synchronous session on a download port (the port answers within from_host).
class DownloadSession {
 public:
  DownloadSession(emulator::Modem& modem, emulator::Port& port);
  ~DownloadSession();
  DownloadSession(const DownloadSession&) = delete;
  DownloadSession& operator=(const DownloadSession&) = delete;

  // Sahara: serves `programmer` until DONE_RESP. Returns END_IMAGE_TX's status (0 = loaded);
  // `error` says what went wrong otherwise.
  std::uint32_t load_programmer(const protocols::Bytes& programmer, std::string& error);
  // Firehose: configure, erase the SBL, program the images (SBL last), power reset.
  bool update(const std::vector<emulator::firmware::Image>& images, std::string& error);
  // One Firehose command; the response document ("" when none came).
  std::string command(const std::string& element);
  // The port said nothing when opened and answers a Firehose nop: the programmer runs already.
  bool programmer_running();

 private:
  bool program(const emulator::firmware::Image& image, std::string& error);
  std::string response() const;
  std::string summary() const;
  void send(protocols::ByteView bytes);

  emulator::Modem& modem_;
  emulator::Port& port_;
  std::uint32_t boot_count_;
  std::vector<protocols::Bytes> transfers_;
};

// A whole update on a modem, across the switch to EDL; `done` hears the outcome.
class ScriptedUpdate final : public emulator::DeviceObserver {
 public:
  using Done = std::function<void(bool ok, const std::string& detail)>;
  ScriptedUpdate(emulator::Modem& modem, std::string version, Done done);
  ~ScriptedUpdate() override;
  void start();

  void on_plug(emulator::Modem& modem) override;
  void on_unplug(emulator::Modem&) override {}

 private:
  void flash_now();
  void flash_sierra();
  void sierra_preference(emulator::sierra::Store& store);
  void finish(bool ok, const std::string& detail);

  emulator::Modem& modem_;
  std::string version_;
  Done done_;
  emulator::Timer timer_;
  bool switched_ = false;
  bool finished_ = false;
};

// A router's health check: ICMP echo requests through the modem's data session, raw IP from
// the session's address, as `ping -c N -i INTERVAL -W TIMEOUT` sends them. The outcome goes to
// the event log as "host.ping" (fields target, sent, replies) once the last reply was waited for.
class Pinger {
 public:
  struct Options {
    std::string target = "gateway";  // or an IPv4 address
    std::uint32_t count = 3;
    emulator::Duration interval = std::chrono::seconds(1);
    emulator::Duration timeout = std::chrono::seconds(2);
  };
  Pinger(emulator::Modem& modem, Options options);
  void start();
  bool finished() const { return finished_; }
  std::uint32_t replies() const { return replies_; }

 private:
  void send_next();
  void finish();

  emulator::Modem& modem_;
  Options options_;
  emulator::DataPath path_;
  emulator::Timer timer_;
  std::uint16_t identifier_;
  std::uint32_t sent_ = 0;
  std::uint32_t replies_ = 0;
  std::string target_text_;
  bool finished_ = false;
};

}  // namespace modemu::scenarios
