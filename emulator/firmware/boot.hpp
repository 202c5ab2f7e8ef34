#pragma once
// The boot chain, as a module runs it at every power-on: the primary bootloader checks the SBL
// at the start of the flash, the SBL checks the download flag and the images its partition
// table names. What it finds decides the boot mode and the firmware version that runs
// (edl-sahara-firehose.md "Quectel firmware package layout and update order").
#include <string>
#include <vector>

#include "emulator/firmware/image.hpp"
#include "emulator/flash/flash.hpp"

namespace modemu::emulator::firmware {

struct BootVerdict {
  profile::BootMode mode = profile::EDL;
  std::string version;        // the running firmware (application and download mode)
  std::string full_revision;
  std::string reason;         // why the module boots as it does, for the event log
};

BootVerdict read_boot_chain(const profile::Profile& p, const Flash& flash);

// Writes images where they belong (the factory programming a blank module). False + why.
bool program_images(const std::vector<Image>& images, Flash& flash, std::string& error);

// Quectel's download flag (in the partition the profile marks): set while an update writes,
// cleared by the programmer's reset.
bool download_flag(const profile::Profile& p, const Flash& flash);
bool set_download_flag(const profile::Profile& p, Flash& flash, bool set, std::string& error);

}  // namespace modemu::emulator::firmware
