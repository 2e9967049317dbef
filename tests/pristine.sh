# Sourced by tests/matrix.sh, tests/refleaks.sh, ... and setup.py.
# pristine_src TOP DEST: copies the tracked files of the checkout at TOP (or
# all of TOP outside git) to DEST and runs autoreconf there, because an
# in-tree configured checkout refuses VPATH builds.
pristine_src() {
  local top=$1 dest=$2
  rm -rf "$dest"
  mkdir -p "$dest"
  if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$top" ls-files -z | (cd "$top" && xargs -0 tar -cf -) | tar -xf - -C "$dest"
  else
    # An unpacked tarball, perhaps built in place: leave build trees out and
    # undo an in-place configure, whose objects may be for another Python.
    (cd "$top" && tar --exclude=./_build --exclude=./build --exclude=./.git --exclude='*.egg-info' \
      -cf - .) | tar -xf - -C "$dest"
    if [ -f "$dest/Makefile" ]; then (cd "$dest" && make distclean >/dev/null 2>&1 || true); fi
  fi
  local log
  log=$(cd "$dest" && autoreconf -fi 2>&1) || { echo "$log" >&2; echo "autoreconf failed in $dest" >&2; return 1; }
}

# vpath_build TOP OUT PYTHON [CONFIGURE FLAGS...]: a pristine copy of TOP in
# OUT/src, configured for PYTHON with -Werror and the flags, built in
# OUT/build; leaves the shell in OUT/build with $out_src set.
vpath_build() {
  local top=$1 out=$2 py=$3
  shift 3
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  pristine_src "$top" "$out/src"
  mkdir -p "$out/build"
  cd "$out/build"
  "$out/src/configure" PYTHON="$py" --enable-werror "$@" >/dev/null
  make -j"$(nproc)" >/dev/null
  out_src=$out/src
}
