# SPDX-License-Identifier: MIT
# valgrind memcheck over the C examples: zero errors, zero leaks.
# In a full run (CI) it checks the examples the native stage built (the
# shipped Release build, no debug info: reports name functions, not lines),
# which spares a third build of the library. Run alone
# (QKV_STAGES=valgrind), or with QKV_VALGRIND_BUILD=1 (to read a report's
# file:line), it builds its own with line tables only (-g1: memcheck's
# reports keep file:line per frame, and the build skips GCC's variable
# tracking).
stage_valgrind() {
  log "valgrind: memcheck of the C examples"
  ./scripts/setup-deps.sh valgrind
  local failed=0 ex=$root/build/native/examples model=$root/build/valgrind/copy_model.safetensors
  case " $stages " in *" native "*) ;; *) QKV_VALGRIND_BUILD=1 ;; esac
  if [ "${QKV_VALGRIND_BUILD:-0}" = 1 ] || [ ! -x "$ex/demo" ]; then
    configure_build valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_TESTS=OFF \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
    ex=$root/build/valgrind/examples
  fi
  mkdir -p "$root/build/valgrind"
  echo "valgrind: the examples of ${ex#"$root"/}"
  # In pipeline order: decode_copy reads the model train_copy writes.
  # train_copy stops at its target accuracy (40 steps, ~75 s under valgrind
  # on a quiet 2-core host) or at its time budget: the default 60 s is for
  # native speed, and on a slower moment valgrind's 40 steps did not fit it.
  # train_gpt: three steps of a tiny GPT on docs/ (blocks, norms, activations,
  # AdamW, the KV-cache sampling), every path of the model code once.
  local runs=("demo" "book_walkthrough" "train_copy $model 900" "decode_copy $model"
              "train_gpt --data $root/docs --steps 3 --layers 1 --d 32 --heads 2 --ctx 16 --batch 2 --eval-batches 2 --samples 1 --sample-len 16")
  local run name
  for run in "${runs[@]}"; do
    name=${run%% *}
    # valgrind cannot run AVX-512 code it does not know; the generic x86-64
    # path (avx2) is what it checks. libgomp keeps its thread pool: reachable,
    # not leaked, so only definite/indirect leaks count.
    # shellcheck disable=SC2086
    if QKV_ISA=avx2 valgrind --error-exitcode=99 --leak-check=full \
         --errors-for-leak-kinds=definite,indirect --quiet "$ex/"$run >"$root/build/valgrind/$name.valgrind.log" 2>&1; then
      echo "valgrind: $name: 0 errors, 0 leaks"
    else
      echo "valgrind: $name FAILED"; cat "$root/build/valgrind/$name.valgrind.log"; failed=1
    fi
  done
  return $failed
}
