#include "emulator/firmware/package.hpp"

#include <unistd.h>

#include <fstream>
#include <regex>
#include <stdexcept>

#include <boost/uuid/detail/md5.hpp>
#include <fmt/format.h>

#include "emulator/firmware/image.hpp"
#include "emulator/profile.hpp"
#include "protocols/cwe/cwe.hpp"

namespace modemu::emulator::firmware {

namespace fs = std::filesystem;

namespace {

std::string md5_hex(protocols::ByteView data) {
  boost::uuids::detail::md5 h;
  h.process_bytes(data.data(), data.size());
  boost::uuids::detail::md5::digest_type d;
  h.get_digest(d);
  std::string out;
  for (auto word : d) out += fmt::format("{:08x}", word);  // boost keeps each word big-endian
  return out;
}

struct PackageWriter {
  fs::path root;
  std::string md5;
  const std::function<void(const std::string&)>& progress;

  void file(const fs::path& relative, protocols::ByteView data) {
    fs::path path = root / relative;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("{}: write failed", path.string()));
    std::string windows = relative.string();
    std::replace(windows.begin(), windows.end(), '/', '\\');
    md5 += fmt::format("X:\\{}:{}\n", windows, md5_hex(data));
    if (progress) progress(fmt::format("{} ({} bytes)", relative.string(), data.size()));
  }
  void text(const fs::path& relative, std::string_view content) { file(relative, protocols::as_bytes(content)); }
};

// A package directory is written whole or not at all: filled beside `dir`, then renamed.
void write_staged(const fs::path& dir, bool overwrite, const std::function<void(const fs::path&)>& fill) {
  if (fs::exists(dir) && !fs::is_directory(dir)) throw std::invalid_argument(fmt::format("{} exists and is not a directory", dir.string()));
  if (fs::exists(dir) && !fs::is_empty(dir) && !overwrite) {
    throw std::invalid_argument(fmt::format("{} is not empty (use --force to replace it)", dir.string()));
  }
  fs::path parent = fs::absolute(dir).parent_path();
  fs::create_directories(parent);
  fs::path staging = parent / fmt::format(".{}.partial-{}", dir.filename().string(), ::getpid());
  fs::remove_all(staging);
  try {
    fill(staging);
    if (fs::exists(dir)) fs::remove_all(dir);
    fs::rename(staging, dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
}

// Filler for the images of a Sierra package: deterministic bytes from a seed (the same build
// gives the same files), standing in for code the emulated module never runs.
protocols::Bytes filler(std::string_view seed, std::uint64_t size) {
  std::uint64_t x = std::hash<std::string_view>{}(seed) | 1;
  protocols::Bytes out(static_cast<std::size_t>(size));
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::uint8_t>(x);
  }
  return out;
}

// "2019/08/28 20:59:30" -> "08/28/19", the CWE date field.
std::string cwe_date(std::string_view build_date) {
  if (build_date.size() < 10) return "01/01/26";
  return fmt::format("{}/{}/{}", build_date.substr(5, 2), build_date.substr(8, 2), build_date.substr(2, 2));
}

}  // namespace

std::vector<NamedFile> build_sierra_release(const profile::Profile& p, const std::string& version_in,
                                            const PackageOptions& options) {
  namespace cwe = protocols::cwe;
  if (!p.has_sierra()) {
    throw std::invalid_argument(fmt::format("profile {} has no Sierra firmware storage: no CWE package to build", p.name()));
  }
  const auto& sp = p.sierra();
  auto parsed = cwe::parse_version("_" + version_in);
  if (!parsed || !(version_in == parsed->firmware || version_in == sp.firmware_prefix() + "_" + parsed->firmware)) {
    throw std::invalid_argument(fmt::format("version \"{}\": expected dd.dd.dd.dd or {}_dd.dd.dd.dd, e.g. 02.30.01.01",
                                            version_in, sp.firmware_prefix()));
  }
  const std::string version = parsed->firmware;
  const std::string name = sp.firmware_prefix() + "_" + version;
  // The carrier configuration: as asked, else the catalogue's for this version, else the newest
  // the catalogue has for the carrier.
  std::string carrier = options.carrier;
  std::string config = options.config;
  for (const auto& fw : p.firmware().versions()) {
    if (fw.modem_version() != version || fw.carrier_config().empty()) continue;
    if (carrier.empty()) carrier = fw.carrier();
    if (config.empty() && fw.carrier() == carrier) config = cwe::parse_version("_" + fw.modem_version() + "_" + fw.carrier_config())->config;
  }
  if (carrier.empty()) carrier = "GENERIC";
  if (config.empty()) {
    for (const auto& fw : p.firmware().versions()) {  // in release order: the newest wins
      auto v = cwe::parse_version("_" + fw.modem_version() + "_" + fw.carrier_config());
      if (fw.carrier() == carrier && v && !v->config.empty()) config = v->config;
    }
  }
  if (config.empty()) config = "001.000_000";
  auto check = cwe::parse_version("_" + version + "_" + carrier + "_" + config);
  if (!check || check->carrier != carrier || check->config != config) {
    throw std::invalid_argument(fmt::format("--carrier \"{}\" / --config \"{}\": expected letters and ddd.ddd_ddd, e.g. "
                                            "GENERIC and 002.079_000", carrier, config));
  }
  const std::string date = cwe_date(sp.build_date());
  auto header = [&](std::string_view type, std::string v) {
    cwe::Header h;
    h.type = std::string(type);
    h.product = sp.cwe_product();
    h.version = std::move(v);
    h.date = date;
    return h;
  };
  protocols::Bytes modem = cwe::encode_package(
      header(cwe::kPackage, name),
      {cwe::encode(header(cwe::kBoot, name), filler(name + "/boot", 16 * 1024)),
       cwe::encode(header(cwe::kApplication, name), filler(name + "/appl", 256 * 1024 + options.extra_bytes))});
  const std::string pri_version = "_" + version + "_" + carrier + "_" + config;
  protocols::Bytes pri = cwe::encode_package(header(cwe::kPackage, name + "_" + carrier + "_" + config),
                                             {cwe::encode(header(cwe::kCarrier, pri_version), filler(pri_version, 8 * 1024))});
  return {{name + ".cwe", std::move(modem)}, {name + "_" + carrier + "_" + config + ".nvu", std::move(pri)}};
}

std::vector<fs::path> write_sierra_package(const profile::Profile& p, const std::string& version, const fs::path& dir,
                                           const PackageOptions& options, const std::function<void(const std::string&)>& progress) {
  auto release = build_sierra_release(p, version, options);
  write_staged(dir, options.overwrite, [&](const fs::path& staging) {
    PackageWriter w{staging, {}, progress};
    for (const auto& f : release) w.file(f.name, f.data);
  });
  std::vector<fs::path> files;
  for (const auto& f : release) files.push_back(dir / f.name);
  return files;
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_geometry(std::string_view name) {
  static const std::regex re("p([0-9]+)K_b([0-9]+)K");
  std::cmatch m;
  if (!std::regex_match(name.begin(), name.end(), m, re)) return std::nullopt;
  std::uint32_t page = static_cast<std::uint32_t>(std::stoul(m[1].str())) * 1024;
  std::uint32_t block = static_cast<std::uint32_t>(std::stoul(m[2].str())) * 1024;
  if (page == 0 || block < page || block % page != 0 || page > (1u << 20)) return std::nullopt;
  return std::make_pair(page, block / page);
}

void write_package(const profile::Profile& profile_in, const std::string& version, const fs::path& dir,
                   const PackageOptions& options, const std::function<void(const std::string&)>& progress) {
  if (!profile_in.has_flash()) {
    throw std::invalid_argument(fmt::format("profile {} has no flash model: no Firehose package to build", profile_in.name()));
  }
  const profile::Firmware* fw = find_firmware(profile_in, version);
  if (fw == nullptr) {
    std::string known;
    for (const auto& f : profile_in.firmware().versions()) known += (known.empty() ? "" : ", ") + f.version();
    throw std::invalid_argument(
        fmt::format("version \"{}\" is not in the catalogue of profile {} (known: {})", version, profile_in.name(), known));
  }
  profile::Profile p = profile_in;
  if (options.geometry) {
    auto g = parse_geometry(*options.geometry);
    if (!g) throw std::invalid_argument(fmt::format("--geometry \"{}\": expected pNK_bMK, e.g. p2K_b128K", *options.geometry));
    p.mutable_flash()->set_page_size(g->first);
    p.mutable_flash()->set_pages_per_block(g->second);
  }
  const auto& flash = p.flash();
  const std::string geometry = geometry_name(flash.page_size(), flash.pages_per_block());
  auto images = build_images(p, *fw, options.extra_bytes);

  write_staged(dir, options.overwrite, [&](const fs::path& staging) {
    PackageWriter w{staging, {}, progress};
    for (const auto& img : images) w.file(fs::path("update") / img.file, img.data);
    w.file(fs::path("update/firehose") / flash.programmer(), build_programmer(p));

    const std::uint64_t sector = flash.page_size();
    auto attrs = [&](const Placement& pl) {
      return fmt::format("PAGES_PER_BLOCK=\"{}\" SECTOR_SIZE_IN_BYTES=\"{}\" physical_partition_number=\"0\" start_sector=\"{}\"",
                         flash.pages_per_block(), sector, pl.offset / sector);
    };
    std::string xml = fmt::format(
        "<?xml version=\"1.0\" ?>\n<data>\n"
        "  <!-- {} {} ({}): erase the SBL first, program it last; paths relative to update/firehose -->\n",
        p.name(), fw->version(), geometry);
    const Image* sbl = nullptr;
    for (const auto& img : images) {
      if (img.place.offset == 0) sbl = &img;
    }
    if (sbl != nullptr) {
      xml += fmt::format("  <erase {} num_partition_sectors=\"{}\" label=\"{}\" />\n", attrs(sbl->place),
                         sbl->place.size / sector, sbl->place.partition->label());
    }
    auto program = [&](const Image& img) {
      std::uint64_t sectors = (img.data.size() + sector - 1) / sector;
      std::uint64_t start = img.place.offset / sector;
      xml += fmt::format(
          "  <program {} file_sector_offset=\"0\" filename=\"../{}\" label=\"{}\" num_partition_sectors=\"{}\" "
          "last_sector=\"{}\" />\n",
          attrs(img.place), img.file, img.place.partition->label(), sectors, start + img.place.size / sector - 1);
    };
    for (const auto& img : images) {
      if (&img != sbl) program(img);
    }
    if (sbl != nullptr) program(*sbl);
    xml += "</data>\n";
    w.text(fs::path("update/firehose") / fmt::format("rawprogram_nand_{}_update.xml", geometry), xml);
    w.text(fs::path("update/firehose") / fmt::format("patch_{}.xml", geometry),
           "<?xml version=\"1.0\" ?>\n<patches>\n"
           "  <!-- NAND: no partition table to patch on the device (no DISK patches) -->\n"
           "</patches>\n");
    w.text("contents.xml", fmt::format("<?xml version=\"1.0\" ?>\n<contents>\n  <product_info>\n"
                                       "    <product_name>{}</product_name>\n    <build_id>{}</build_id>\n"
                                       "    <hardware>{}</hardware>\n  </product_info>\n</contents>\n",
                                       p.name(), fw->full_revision().empty() ? fw->version() : fw->full_revision(),
                                       p.identity().model()));
    std::string md5 = w.md5;
    {
      std::ofstream out(staging / "md5.txt", std::ios::binary);
      out << md5;
      out.flush();
      if (!out) throw std::runtime_error(fmt::format("{}: write failed", (staging / "md5.txt").string()));
    }
  });
}

}  // namespace modemu::emulator::firmware
