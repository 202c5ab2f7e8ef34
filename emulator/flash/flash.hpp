#pragma once
// The module's NAND: one sparse file per modem (flash.img in its state directory; an anonymous
// memory file when nothing persists). Writes go straight to the file as they arrive, so a power
// cut, or the emulator process dying at any instant, leaves exactly what was written and a file
// that reloads: the file has the device's fixed size and no metadata to tear.
//
// Erased NAND reads 0xFF. The file stores every byte inverted, so that its holes, never written
// or punched by an erase, read back as erased without taking disk space.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "modemu/profile/profile.pb.h"
#include "protocols/common/bytes.hpp"

namespace modemu::emulator {

class Flash {
 public:
  // Opens (or creates, erased) the flash of `geometry` at `path`; in memory when `path` is
  // empty. Throws std::runtime_error naming the file when it cannot be used (wrong size for the
  // profile, I/O error).
  Flash(const profile::Flash& geometry, const std::optional<std::filesystem::path>& path);
  ~Flash();
  Flash(const Flash&) = delete;
  Flash& operator=(const Flash&) = delete;

  // True when this open created the file: the module's flash was never written.
  bool created() const { return created_; }
  std::uint64_t size() const { return size_; }
  std::uint32_t page_size() const { return page_size_; }
  std::uint32_t pages_per_block() const { return pages_per_block_; }
  std::uint64_t block_bytes() const { return static_cast<std::uint64_t>(page_size_) * pages_per_block_; }

  // Each returns false with a reason (out of range, I/O error).
  bool read(std::uint64_t offset, std::size_t length, protocols::Bytes& out, std::string& error) const;
  bool write(std::uint64_t offset, protocols::ByteView data, std::string& error);
  bool erase(std::uint64_t offset, std::uint64_t length, std::string& error);

 private:
  bool in_range(std::uint64_t offset, std::uint64_t length, std::string& error) const;

  int fd_ = -1;
  bool created_ = false;
  std::uint64_t size_ = 0;
  std::uint32_t page_size_ = 0;
  std::uint32_t pages_per_block_ = 0;
  std::string name_;
};

}  // namespace modemu::emulator
