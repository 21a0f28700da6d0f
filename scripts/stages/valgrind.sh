# valgrind memcheck over the C examples: zero errors, zero leaks.
stage_valgrind() {
  log "valgrind: memcheck of the C examples"
  ./scripts/setup-deps.sh valgrind
  configure_build valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_TESTS=OFF
  local failed=0 exe
  for exe in "$root"/build/valgrind/examples/*; do
    [ -x "$exe" ] && [ -f "$exe" ] || continue
    # valgrind cannot run AVX-512 code it does not know; the generic x86-64
    # path (avx2) is what it checks. libgomp keeps its thread pool: reachable,
    # not leaked, so only definite/indirect leaks count.
    if QKV_ISA=avx2 QKV_DEMO_QUICK=1 valgrind --error-exitcode=99 --leak-check=full \
         --errors-for-leak-kinds=definite,indirect --quiet "$exe" >"$exe.valgrind.log" 2>&1; then
      echo "valgrind: $(basename "$exe"): 0 errors, 0 leaks"
    else
      echo "valgrind: $(basename "$exe") FAILED"; cat "$exe.valgrind.log"; failed=1
    fi
  done
  return $failed
}
