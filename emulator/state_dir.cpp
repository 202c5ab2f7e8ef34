#include "emulator/state_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

namespace modemu::emulator {
namespace fs = std::filesystem;

namespace {

struct FirstError : google::protobuf::io::ErrorCollector {
  std::string where;
  std::string message;
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& text) override {
    if (message.empty()) {
      where = fmt::format("{}:{}", line + 1, column + 1);
      message = text;
    }
  }
};

}  // namespace

fs::path default_state_root() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return fs::path(xdg) / "modemu";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return fs::path(home) / ".local" / "state" / "modemu";
  }
  return "/var/lib/modemu";
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot replace {}: {}", path.string(), std::strerror(err)));
  }
  // The rename itself is durable only once the directory is synced.
  int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

StateDir::StateDir(const fs::path& root, const std::string& modem_id) : path_(root / modem_id) {
  std::error_code ec;
  fs::create_directories(path_, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create state directory {}: {}", path_.string(), ec.message()));
  fs::path lock = path_ / "lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    throw std::runtime_error(fmt::format("cannot open {}: {}", lock.string(), std::strerror(errno)));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    ssize_t n = ::pread(lock_fd_, pid, sizeof pid - 1, 0);
    ::close(lock_fd_);
    lock_fd_ = -1;
    std::string holder = n > 0 ? fmt::format(" (process {})", std::string(pid, static_cast<std::size_t>(n))) : "";
    throw std::runtime_error(fmt::format(
        "modem '{}' is already running{}: its state directory {} is locked; give another --id or --state-dir",
        modem_id, holder, path_.string()));
  }
  std::string me = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(lock_fd_, me.data(), me.size(), 0);
  }
}

StateDir::~StateDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

bool StateDir::load_nv(profile::NvState& out) const {
  fs::path file = path_ / "nv.txtpb";
  std::ifstream in(file);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  profile::NvState nv;
  google::protobuf::TextFormat::Parser parser;
  FirstError error;
  parser.RecordErrorsTo(&error);
  if (!parser.ParseFromString(text.str(), &nv)) {
    throw std::runtime_error(fmt::format("{}:{}: cannot be parsed ({}); move it away to start from the profile's defaults",
                                         file.string(), error.where, error.message));
  }
  out = std::move(nv);
  return true;
}

void StateDir::save_nv(const profile::NvState& nv) const {
  std::string text;
  google::protobuf::TextFormat::PrintToString(nv, &text);
  write_file_atomic(path_ / "nv.txtpb", "# modemu non-volatile settings of this modem\n" + text);
}

}  // namespace modemu::emulator
