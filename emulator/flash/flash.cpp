#include "emulator/flash/flash.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace modemu::emulator {

using protocols::ByteView;
using protocols::Bytes;

namespace {

void invert(std::uint8_t* p, std::size_t n) {
  // Whole words first: this is on the path of every byte an updater writes.
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w = ~w;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<std::uint8_t>(~p[i]);
}

}  // namespace

Flash::Flash(const profile::Flash& geometry, const std::optional<std::filesystem::path>& path)
    : size_(static_cast<std::uint64_t>(geometry.page_size()) * geometry.pages_per_block() * geometry.blocks()),
      page_size_(geometry.page_size()),
      pages_per_block_(geometry.pages_per_block()) {
  if (size_ == 0) throw std::runtime_error("profile flash has no size (page_size, pages_per_block, blocks)");
  if (path) {
    name_ = path->string();
    fd_ = ::open(path->c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0 && errno == ENOENT) {
      fd_ = ::open(path->c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      created_ = fd_ >= 0;
    }
  } else {
    name_ = "in-memory flash";
    fd_ = ::memfd_create("modemu-flash", MFD_CLOEXEC);
    created_ = true;
  }
  if (fd_ < 0) throw std::runtime_error(fmt::format("{}: cannot open: {}", name_, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw std::runtime_error(fmt::format("{}: {}", name_, std::strerror(errno)));
  if (created_ || st.st_size == 0) {
    created_ = true;
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      int e = errno;
      ::close(fd_);
      throw std::runtime_error(fmt::format("{}: cannot size the flash to {} bytes: {}", name_, size_, std::strerror(e)));
    }
  } else if (static_cast<std::uint64_t>(st.st_size) != size_) {
    ::close(fd_);
    throw std::runtime_error(fmt::format(
        "{}: the flash image is {} bytes but the profile's NAND is {} bytes ({} x {} pages x {} blocks); "
        "it belongs to another profile: use another --state-dir or --id",
        name_, st.st_size, size_, page_size_, pages_per_block_, geometry.blocks()));
  }
}

Flash::~Flash() {
  if (fd_ >= 0) ::close(fd_);
}

bool Flash::in_range(std::uint64_t offset, std::uint64_t length, std::string& error) const {
  if (offset > size_ || length > size_ - offset) {
    error = fmt::format("bytes {}..{} are beyond the end of the flash ({} bytes)", offset, offset + length, size_);
    return false;
  }
  return true;
}

bool Flash::read(std::uint64_t offset, std::size_t length, Bytes& out, std::string& error) const {
  if (!in_range(offset, length, error)) return false;
  out.resize(length);
  std::size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = fmt::format("{}: read failed: {}", name_, n == 0 ? "end of file" : std::strerror(errno));
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  invert(out.data(), out.size());
  return true;
}

bool Flash::write(std::uint64_t offset, ByteView data, std::string& error) {
  if (!in_range(offset, data.size(), error)) return false;
  Bytes stored(data.begin(), data.end());
  invert(stored.data(), stored.size());
  std::size_t done = 0;
  while (done < stored.size()) {
    ssize_t n = ::pwrite(fd_, stored.data() + done, stored.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = fmt::format("{}: write failed: {}", name_, std::strerror(errno));
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool Flash::erase(std::uint64_t offset, std::uint64_t length, std::string& error) {
  if (!in_range(offset, length, error)) return false;
  if (length == 0) return true;
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0) {
    return true;
  }
  // A file system without hole punching: write the erased state.
  const Bytes ones(std::min<std::uint64_t>(length, 1 << 20), 0xff);
  for (std::uint64_t at = 0; at < length; at += ones.size()) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(ones.size(), length - at));
    if (!write(offset + at, ByteView(ones).first(n), error)) return false;
  }
  return true;
}

}  // namespace modemu::emulator
