// SPDX-License-Identifier: MIT
// The machine, in the context stanza at the top of every qkv_bench run (and
// in the JSON's "context"): the CPU model, cpu0's caches, the ISA whose
// kernels qkv runs and its GEMM blocking. bench_gemm.cpp adds the compared libraries' versions.
#include <fstream>
#include <string>

#include <unistd.h>

#include "bench_util.hpp"

namespace {

std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// The value of /proc/cpuinfo's first line with this key ("" if none).
std::string cpuinfo(const std::string& key) {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.compare(0, key.size(), key) == 0 && line.find_first_not_of(" \t", key.size()) == line.find(':')) {
      const std::size_t value = line.find_first_not_of(" \t", line.find(':') + 1);
      return value == std::string::npos ? std::string() : line.substr(value);
    }
  return {};
}

// "AMD EPYC (family 26 model 2)": the model name alone can be that vague.
std::string cpu_model() {
  const std::string name = cpuinfo("model name"), family = cpuinfo("cpu family"), model = cpuinfo("model");
  return (name.empty() ? "unknown" : name) + " (family " + family + " model " + model + ")";
}

// glibc's view of the caches (from CPUID), for hosts without sysfs entries.
std::string sysconf_caches() {
  const struct {
    const char* name;
    int key;
  } caches[] = {{"L1d", _SC_LEVEL1_DCACHE_SIZE},
                {"L1i", _SC_LEVEL1_ICACHE_SIZE},
                {"L2", _SC_LEVEL2_CACHE_SIZE},
                {"L3", _SC_LEVEL3_CACHE_SIZE}};
  std::string out;
  for (const auto& c : caches) {
    const long bytes = sysconf(c.key);
    if (bytes <= 0) continue;
    if (!out.empty()) out += ", ";
    out += std::string(c.name) + " " + std::to_string(bytes / 1024) + "K";
  }
  return out.empty() ? "unknown" : out + " (sysconf)";
}

// "L1d 48K, L1i 32K, L2 2048K, L3 107520K (shared by cpus 0-1)": cpu0's
// caches from sysfs, each one instance's size; else sysconf's.
std::string cache_sizes() {
  std::string out;
  for (int i = 0;; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = first_line(dir + "level");
    if (level.empty()) break;
    const std::string type = first_line(dir + "type");
    const char* kind = type == "Data" ? "d" : type == "Instruction" ? "i" : "";
    if (!out.empty()) out += ", ";
    out += "L" + level + kind + " " + first_line(dir + "size");
    const std::string shared = first_line(dir + "shared_cpu_list");
    if (shared.find_first_of(",-") != std::string::npos) out += " (shared by cpus " + shared + ")";
  }
  return out.empty() ? sysconf_caches() : out;
}

// "gemm_f32_14x32 for zen5, mc 294 kc 216 nc 576 (from caches: L1d 48K
// 12-way, L2 1024K 8-way)": the blocks qkv's GEMM runs with, and why.
std::string gemm_blocking() {
  qkv_gemm_blocking b;
  if (qkv_get_gemm_blocking(&b) != QKV_OK) return "unknown";
  static const char* const kSource[] = {"from caches", "QKV_BLOCKING", "built-in"};
  std::string out = std::string(b.kernel) + " for " + b.cpu_class + ", mc " + std::to_string(b.mc) + " kc " +
                    std::to_string(b.kc) + " nc " + std::to_string(b.nc) + " (" + kSource[b.source];
  if (b.l1d_bytes)
    out += ": L1d " + std::to_string(b.l1d_bytes / 1024) + "K " + std::to_string(b.l1d_ways) + "-way, L2 " +
           std::to_string(b.l2_bytes / 1024) + "K " + std::to_string(b.l2_ways) + "-way";
  return out + ")";
}

const bool g_machine_in_context = [] {
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("cpu_caches", cache_sizes());
  benchmark::AddCustomContext("qkv_isa", qkv_isa_name(qkv_bench::active_isa()));
  benchmark::AddCustomContext("qkv_gemm_blocking", gemm_blocking());
  return true;
}();

}  // namespace
