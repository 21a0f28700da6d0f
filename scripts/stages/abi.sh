# SPDX-License-Identifier: MIT
# The shared library's ABI against the committed dump abi/libqkv.abi: any
# difference abidiff reports (harmless ones such as a new enumerator included)
# fails. An intended change is recorded with scripts/update-abi.sh, together
# with the version bump it needs (README "ABI and versioning").
#   QKV_ABI_UPDATE=1  write the new dump to abi/libqkv.abi instead of failing
#                     (what scripts/update-abi.sh sets).

# build_dist: the shared library as it is packaged (Release, installed under
# /usr), library target only, with debug info for abidw (the package stage
# strips it) and source paths relative to the tree, so that the dump does not
# name this checkout. Shared by the abi and package stages: build/dist.
build_dist() {
  local flags="-g -ffile-prefix-map=$root/="
  configure_build dist -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_PREFIX=/usr \
    -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF -DQKV_BUILD_DOCS=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags"
}

# abi_dump OUT: the ABI of build/dist's libqkv.so as abixml, the public headers'
# declarations only (--headers-dir), reachable from exported symbols; no source
# locations, so the file changes only when the ABI does.
abi_dump() {
  abidw --headers-dir "$root/include/qkv" --drop-private-types --exported-interfaces-only \
    --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed --drop-undefined-syms \
    --type-id-style hash --out-file "$1" "$(readlink -f "$root/build/dist/src/libqkv.so")"
}

stage_abi() {
  log "abi: libqkv.so against abi/libqkv.abi (abidiff)"
  ./scripts/setup-deps.sh abi
  build_dist
  local committed=$root/abi/libqkv.abi new=$root/build/dist/libqkv.abi rc=0
  abi_dump "$new"
  if [ "${QKV_ABI_UPDATE:-0}" = 1 ]; then
    mkdir -p "$root/abi"
    if [ -f "$committed" ]; then
      abidiff --harmless "$committed" "$new" || true
    fi
    cp "$new" "$committed"
    echo "abi: wrote abi/libqkv.abi (soname $(readelf -d "$root/build/dist/src/libqkv.so" | sed -n 's/.*soname: \[\(.*\)\]/\1/p'))"
    return 0
  fi
  [ -f "$committed" ] || { echo "abi: abi/libqkv.abi is missing: run scripts/update-abi.sh"; return 1; }
  # abidiff's exit status is non-zero for any reported change (bit 4: a change,
  # bit 8: an incompatible one); --harmless makes compatible changes count too.
  abidiff --harmless "$committed" "$new" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "abi: the ABI differs from abi/libqkv.abi (abidiff exit $rc, report above)."
    echo "abi: if intended, bump the version in include/qkv/version.h (README \"ABI and versioning\")"
    echo "abi: and record the new ABI with ./scripts/update-abi.sh"
    return 1
  fi
  echo "abi: no change against abi/libqkv.abi"
}
