// The gRPC API under load: small RPCs per second through real channels on a unix socket to the
// server `modemu serve` runs (the same ApiServer, in this process, on its own io thread), while
// the modems it serves run a USB reset loop. Reports the rate and the latency percentiles.
//
//   bench_grpc_load [--short]     (--short: 2 s per measurement instead of 10 s)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "grpc-api/server/address.hpp"
#include "grpc-api/server/service.hpp"
#include "modemu/v1/modemu.grpc.pb.h"
#include "scenarios/fleet.hpp"

namespace em = modemu::emulator;
namespace v1 = modemu::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
  double rate = 0;
  double p50_us = 0, p99_us = 0;
  std::size_t calls = 0;
};

// `threads` clients, each on its own channel, each calling `call` back to back for `seconds`.
template <class Call>
Result measure(const std::string& target, int threads, double seconds, Call call) {
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto stub = v1::Modemu::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
      auto& lat = latencies[static_cast<std::size_t>(t)];
      while (!go) std::this_thread::yield();
      while (!stop) {
        auto t0 = Clock::now();
        if (!call(*stub)) {
          std::fprintf(stderr, "bench_grpc_load: a call failed\n");
          std::exit(1);
        }
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  }
  auto t0 = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measurement window
  stop = true;
  for (auto& w : workers) w.join();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.calls = all.size();
  r.rate = static_cast<double>(all.size()) / wall;
  if (!all.empty()) {
    r.p50_us = all[all.size() / 2];
    r.p99_us = all[all.size() * 99 / 100];
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bool short_run = argc > 1 && std::strcmp(argv[1], "--short") == 0;
  const double seconds = short_run ? 2.0 : 10.0;
  const int modems = 20;
  auto dir = std::filesystem::temp_directory_path() / fmt::format("modemu-bench-grpc-{}", ::getpid());
  std::filesystem::create_directories(dir);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  em::AsioClock clock(io);
  em::EventLog log(clock);
  modemu::scenarios::Fleet fleet(clock, log);
  modemu::server::ServerOptions options;
  options.base.state_root = dir / "state";
  options.base.time_scale = 0.02;
  modemu::server::ApiServer api(io, fleet, options);
  modemu::server::Address address{true, dir / "grpc.sock", {}};
  api.start({{address, {}, {}}});
  std::thread io_thread([&] { io.run(); });
  const std::string target = address.target();

  // The modems the RPCs ask about, each in a reset loop meanwhile: the server works while it answers.
  {
    auto stub = v1::Modemu::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    for (int i = 0; i < modems; ++i) {
      grpc::ClientContext ctx;
      v1::CreateModemRequest req;
      req.mutable_spec()->set_profile("quectel-eg12");
      req.mutable_spec()->set_id(fmt::format("b{:02}", i));
      v1::Modem m;
      if (!stub->CreateModem(&ctx, req, &m).ok()) return 1;
      grpc::ClientContext fctx;
      v1::InjectFaultRequest f;
      f.mutable_fault()->set_type("usb_reset_loop");
      f.mutable_fault()->set_modem(m.id());
      (*f.mutable_fault()->mutable_params())["period"] = "1s";
      (*f.mutable_fault()->mutable_params())["downtime"] = "0.2s";
      v1::FaultInfo info;
      if (!stub->InjectFault(&fctx, f, &info).ok()) return 1;
    }
  }
  std::atomic<int> n{0};
  auto get_modem = [&](v1::Modemu::Stub& stub) {
    grpc::ClientContext ctx;
    v1::ModemRef ref;
    ref.set_id(fmt::format("b{:02}", n++ % modems));
    v1::Modem m;
    return stub.GetModem(&ctx, ref, &m).ok();
  };
  for (int threads : {1, 4}) {
    Result r = measure(target, threads, seconds, get_modem);
    std::printf("grpc GetModem over a unix socket, %d client thread(s), %d modems in a reset loop: %zu calls, "
                "%.0f RPC/s, latency p50 %.0f us, p99 %.0f us\n",
                threads, modems, r.calls, r.rate, r.p50_us, r.p99_us);
  }
  api.shutdown();
  boost::asio::post(io, [&] {
    api.release_modems();
    fleet.power_off_all("bench end");
    work.reset();
    io.stop();
  });
  io_thread.join();
  std::filesystem::remove_all(dir);
  return 0;
}
