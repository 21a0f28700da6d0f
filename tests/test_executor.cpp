// SPDX-License-Identifier: MIT
// A caller's executor in place of OpenMP (qkv_set_executor, issue 18): every
// compute routine gives the bytes it gives on one thread whatever the
// executor does within its contract: tasks in turn on the calling thread in a
// random order, or on 3 workers of its own taking tasks in a random order.
// Also the report callback (qkv_set_log_callback).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/routines.hpp"

namespace {

// Counts the regions and tasks it ran, to prove the library used it.
struct pool_stats {
  std::atomic<long> regions{0}, tasks{0};
  std::atomic<unsigned> seed{1};
};

// Every task in turn on the calling thread, in a random order.
void serial_shuffled(void* ctx, size_t n, qkv_task_fn task, void* arg) {
  auto* st = static_cast<pool_stats*>(ctx);
  st->regions.fetch_add(1);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937 rng(st->seed.fetch_add(1));
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i : order) {
    task(arg, i);
    st->tasks.fetch_add(1);
  }
}

// Three worker threads of its own take the tasks in a random order while the
// caller waits.
void three_workers(void* ctx, size_t n, qkv_task_fn task, void* arg) {
  auto* st = static_cast<pool_stats*>(ctx);
  st->regions.fetch_add(1);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937 rng(st->seed.fetch_add(1));
  std::shuffle(order.begin(), order.end(), rng);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
      task(arg, order[i]);
      st->tasks.fetch_add(1);
    }
  };
  std::thread a(work), b(work), c(work);
  a.join();
  b.join();
  c.join();
}

class executor_scope {
 public:
  explicit executor_scope(const qkv_executor& e) {
    REQUIRE(qkv_get_executor(&saved_) == QKV_OK);
    REQUIRE(qkv_set_executor(&e) == QKV_OK);
  }
  ~executor_scope() { qkv_set_executor(saved_.parallel_for ? &saved_ : nullptr); }

 private:
  qkv_executor saved_{};
};

}  // namespace

TEST_CASE("executor setting is validated and read back", "[runtime][executor]") {
  qkv_executor none;
  REQUIRE(qkv_get_executor(&none) == QKV_OK);
  CHECK(none.parallel_for == nullptr);
  CHECK(qkv_get_executor(nullptr) == QKV_ERR_NULL_POINTER);
  pool_stats st;
  CHECK(qkv_set_executor(nullptr) == QKV_OK);
  qkv_executor bad{nullptr, &st, 2};
  CHECK(qkv_set_executor(&bad) == QKV_ERR_BAD_ARGUMENT);
  bad = {serial_shuffled, &st, 0};
  CHECK(qkv_set_executor(&bad) == QKV_ERR_BAD_ARGUMENT);
  qkv_executor got;
  REQUIRE(qkv_get_executor(&got) == QKV_OK);
  CHECK(got.parallel_for == nullptr);  // refused: unchanged
  {
    executor_scope scope(qkv_executor{serial_shuffled, &st, 5});
    REQUIRE(qkv_get_executor(&got) == QKV_OK);
    CHECK(got.parallel_for == &serial_shuffled);
    CHECK(got.ctx == &st);
    CHECK(got.workers == 5);
    int n = 0;
    REQUIRE(qkv_get_num_threads(&n) == QKV_OK);
    CHECK(n == 5);  // the executor's workers
  }
  REQUIRE(qkv_get_executor(&got) == QKV_OK);
  CHECK(got.parallel_for == nullptr);
}

TEST_CASE("every routine is bitwise the same on a caller's executor", "[reliability][determinism][executor]") {
  const auto routines = qkv_test::all_routines();
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& r : routines) {
      INFO("routine: " << r.name);
      qkv_test::bytes one;
      {
        qkv_test::threads_scope t(1);
        one = r.run();
      }
      REQUIRE(!one.empty());
      struct kind {
        const char* name;
        void (*fn)(void*, size_t, qkv_task_fn, void*);
        int workers;
      };
      for (const kind& k : {kind{"serial, shuffled, 4 workers declared", serial_shuffled, 4},
                            kind{"3 workers, shuffled", three_workers, 3}}) {
        INFO("executor: " << k.name);
        pool_stats st;
        qkv_test::bytes again;
        {
          executor_scope scope(qkv_executor{k.fn, &st, k.workers});
          again = r.run();
        }
        if (r.threaded) CHECK(st.regions.load() > 0);  // the library used it
        REQUIRE(again.size() == one.size());
        CHECK(std::memcmp(again.data(), one.data(), one.size()) == 0);
      }
    }
  });
}

namespace {
struct log_lines {
  std::mutex m;
  std::vector<std::string> lines;
};
void collect(void* user, const char* line) {
  auto* l = static_cast<log_lines*>(user);
  std::lock_guard<std::mutex> g(l->m);
  l->lines.emplace_back(line);
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("the report callback names the routine, ISA and path of each call", "[runtime][report]") {
  log_lines log;
  REQUIRE(qkv_set_log_callback(collect, &log) == QKV_OK);
  const size_t M = 70, N = 300, K = 90;
  std::vector<float> A(M * K, 0.5f), B(K * N, 0.25f), C(M * N);
  REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N) == QKV_OK);
  qkv_sdpa_desc d{};
  d.batch = 1;
  d.heads = 2;
  d.q_len = d.kv_len = 40;
  d.head_dim = 16;
  d.causal = 1;
  d.q = d.k = d.v = d.o = qkv_sdpa_strides{2 * 40 * 16, 40 * 16, 16};  // [B, H, T, d]
  std::vector<float> q(2 * 40 * 16, 0.1f), out(q.size());
  size_t ws_bytes = 0;
  REQUIRE(qkv_sdpa_workspace_size(&d, 1, &ws_bytes) == QKV_OK);
  std::vector<unsigned char> ws(ws_bytes);
  REQUIRE(qkv_sdpa_forward(&d, q.data(), q.data(), q.data(), out.data(), nullptr, ws.data(), ws.size()) == QKV_OK);
  REQUIRE(qkv_set_log_callback(nullptr, nullptr) == QKV_OK);
  REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N) == QKV_OK);
  qkv_isa isa;
  REQUIRE(qkv_get_isa(&isa) == QKV_OK);
  REQUIRE(log.lines.size() == 2);  // none after the callback was removed
  INFO(log.lines[0] << "\n" << log.lines[1]);
  CHECK(contains(log.lines[0], "qkv,sgemm,"));
  CHECK(contains(log.lines[0], qkv_isa_name(isa)));
  CHECK(contains(log.lines[0], "NT M70 N300 K90"));
  CHECK(contains(log.lines[0], "us"));
  CHECK(contains(log.lines[1], "qkv,sdpa_forward,"));
  CHECK(contains(log.lines[1], ",fused,"));
  CHECK(contains(log.lines[1], "causal"));
}
