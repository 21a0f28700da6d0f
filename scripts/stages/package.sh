# SPDX-License-Identifier: MIT
# Debian packages (cmake/QkvPackage.cmake): cpack -G DEB on the shared build
# the abi stage checks (build/dist), the two .debs inspected with dpkg-deb
# (names after the soname, dependencies, which files go where, the license),
# unpacked into a scratch root without root privileges (dpkg -x), and the
# consumers of tests/consumer (find_package and pkg-config) built and run
# against that root. Everything stays under build/dist/packages for a look.
stage_package() {
  log "package: cpack -G DEB, checked with dpkg-deb, consumers built against the unpacked packages"
  ./scripts/setup-deps.sh package
  build_dist
  local dist=$root/build/dist out=$root/build/dist/packages
  rm -rf "$out"
  (cd "$dist" && cpack -G DEB -B "$out") >"$dist/cpack.log" 2>&1 || { cat "$dist/cpack.log"; return 1; }

  # libqkv.so.0.8 -> libqkv0.8 (Debian names a library package after its soname).
  local soname abi rt dev arch multiarch version
  soname=$(readelf -d "$dist/src/libqkv.so" | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
  abi=${soname#libqkv.so.}
  rt=$(find "$out" -maxdepth 1 -name "libqkv${abi}_*.deb")
  dev=$(find "$out" -maxdepth 1 -name 'libqkv-dev_*.deb')
  if [ ! -f "$rt" ] || [ ! -f "$dev" ] || [ "$(find "$out" -maxdepth 1 -name '*.deb' | wc -l)" -ne 2 ]; then
    ls "$out"; echo "package: expected two packages, libqkv${abi}_*.deb and libqkv-dev_*.deb"; return 1
  fi
  arch=$(dpkg --print-architecture)
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  version=$(dpkg-deb -f "$rt" Version)
  echo "package: $(basename "$rt"), $(basename "$dev")"

  # Control fields.
  package_expect "$rt" Package "^libqkv$abi\$"
  package_expect "$dev" Package '^libqkv-dev$'
  package_expect "$dev" Version "^${version//./\\.}\$"
  package_expect "$rt" Architecture "^$arch\$"
  package_expect "$dev" Architecture "^$arch\$"
  package_expect "$rt" Depends '(^|, )libc6( |,|$)'
  package_expect "$rt" Depends '(^|, )libgomp1( |,|$)'
  package_expect "$rt" Depends '(^|, )libstdc\+\+6( |,|$)'
  package_expect "$dev" Depends "(^|, )libqkv$abi \\(= ${version//./\\.}\\)(,|\$)"
  package_expect "$rt" Section '^libs$'
  package_expect "$dev" Section '^libdevel$'
  package_expect "$rt" Maintainer '^.+ <.+@.+>$'
  package_expect "$dev" Description '.'

  # Contents. The runtime holds the library, its soname link and the license;
  # the dev package the headers, the link to build with, the CMake package,
  # qkv.pc, its license and (anything under) the docs, and no library itself.
  local lib=usr/lib/$multiarch h
  package_files "$rt" "$out/runtime.files"
  printf '%s\n' "$lib/$soname -> libqkv.so.${version%-*}" "$lib/libqkv.so.${version%-*}" \
    "usr/share/doc/libqkv$abi/copyright" | sort >"$out/runtime.expected"
  diff -u "$out/runtime.expected" "$out/runtime.files" ||
    { echo "package: libqkv$abi holds other files than expected (diff above)"; return 1; }
  package_files "$dev" "$out/dev.files"
  { for h in "$root"/include/qkv/*.h; do echo "usr/include/qkv/$(basename "$h")"; done
    printf '%s\n' "$lib/libqkv.so -> $soname" "$lib/pkgconfig/qkv.pc" "$lib/cmake/qkv/qkvConfig.cmake" \
      "$lib/cmake/qkv/qkvConfigVersion.cmake" "$lib/cmake/qkv/qkvTargets.cmake" \
      "$lib/cmake/qkv/qkvTargets-release.cmake" usr/share/doc/libqkv-dev/copyright
  } | sort >"$out/dev.expected"
  grep -v '^usr/share/doc/qkv/' "$out/dev.files" | diff -u "$out/dev.expected" - ||
    { echo "package: libqkv-dev holds other files than expected (diff above; docs go to usr/share/doc/qkv/)"; return 1; }
  grep -qx usr/share/doc/qkv/README.md "$out/dev.files" || { echo "package: libqkv-dev lacks the README"; return 1; }

  # Unpacked as a user would install them, into a scratch root.
  local sysroot=$out/root
  mkdir -p "$sysroot"
  dpkg -x "$rt" "$sysroot"
  dpkg -x "$dev" "$sysroot"
  grep -qx 'License: MIT' "$sysroot/usr/share/doc/libqkv$abi/copyright" ||
    { echo "package: usr/share/doc/libqkv$abi/copyright does not say License: MIT"; return 1; }
  readelf -d "$sysroot/$lib/$soname" | grep -q "soname: \[$soname\]" ||
    { echo "package: the packaged library's soname is not $soname"; return 1; }
  if readelf -S "$sysroot/$lib/$soname" | grep -q '\.debug_info'; then
    echo "package: the packaged library is not stripped"; return 1
  fi
  LD_LIBRARY_PATH="$sysroot/$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$root/tests/consumer/run.sh" --prefix "$sysroot/usr" "$root/tests/consumer" cmake cc
}

# package_expect DEB FIELD ERE: the control field matches the extended regex.
package_expect() {
  local value
  value=$(dpkg-deb -f "$1" "$2")
  grep -Eq -- "$3" <<<"$value" ||
    { echo "package: $(basename "$1"): $2 is '$value', expected to match /$3/"; return 1; }
}

# package_files DEB OUT: the package's files and links (no directories), one a
# line without the leading ./, links as "path -> target", sorted.
package_files() {
  dpkg-deb -c "$1" | awk '$1 !~ /^d/ { p = $6; for (i = 7; i <= NF; i++) p = p " " $i; sub(/^\.\//, "", p); print p }' |
    sort >"$2"
}
