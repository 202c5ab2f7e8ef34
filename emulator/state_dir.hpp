#pragma once
// The per-modem state directory (`--state-dir DIR`, one subdirectory per modem id): what a modem
// keeps across runs. Files are replaced atomically, so a crash at any instant leaves either the
// old or the new content (DESIGN.md "Bad input and failure policy").
#include <filesystem>
#include <string>
#include <string_view>

#include "modemu/profile/profile.pb.h"

namespace modemu::emulator {

// $XDG_STATE_HOME/modemu, else $HOME/.local/state/modemu, else /var/lib/modemu for root.
std::filesystem::path default_state_root();

// Writes `content` to `path` through a temporary file, fsync and rename.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

class StateDir {
 public:
  // Creates <root>/<modem_id> and locks it; throws std::runtime_error with a clear message when
  // another process runs that modem or the directory cannot be used.
  StateDir(const std::filesystem::path& root, const std::string& modem_id);
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // nv.txtpb; returns false (and leaves `out` alone) when there is none yet. Throws on a file
  // that exists but cannot be parsed, naming it.
  bool load_nv(profile::NvState& out) const;
  void save_nv(const profile::NvState& nv) const;

 private:
  std::filesystem::path path_;
  int lock_fd_ = -1;
};

}  // namespace modemu::emulator
