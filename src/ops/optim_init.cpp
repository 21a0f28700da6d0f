#include "ops/optim_init.hpp"

#include "ops/threads.hpp"

namespace qkv::ops {

void init_uniform(float* p, std::size_t n, float bound, std::uint64_t seed) noexcept {
  const std::uint64_t key = init_key(seed);
#ifdef _OPENMP
  // ~10 integer ops per element; every element independent.
  const int nt = threads_for(10.0 * static_cast<double>(n), n);
  if (nt > 1) {
    const auto nn = static_cast<long long>(n);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long long i = 0; i < nn; ++i) p[i] = init_uniform_value(key, static_cast<std::uint64_t>(i), bound);
    return;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) p[i] = init_uniform_value(key, i, bound);
}

}  // namespace qkv::ops
