# Sourced by tests/matrix.sh and tests/refleaks.sh.
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
    (cd "$top" && tar --exclude=./_build -cf - .) | tar -xf - -C "$dest"
  fi
  (cd "$dest" && autoreconf -fi >/dev/null 2>&1)
}
