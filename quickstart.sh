#!/bin/sh
# refgraph Quick start on Debian 12.
#   ./quickstart.sh         install what is missing, build, run the sample leak hunt
#   ./quickstart.sh check   the same build, then the test suite's default tier (make check;
#                           make check-slow runs the slow tier, make check-all both)
#   ./quickstart.sh deps    only install what is missing (.ci/run times it as a stage)
# Set PYTHON to build for another interpreter (default: Debian's /usr/bin/python3).
set -eu
cd "$(dirname "$0")"
PYTHON=${PYTHON:-/usr/bin/python3}

packages=$(grep -v '^#' debian-packages.txt | tr '\n' ' ')
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "Installing:$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

[ "${1:-}" = deps ] && exit 0

[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure PYTHON="$PYTHON" ${CONFIGURE_FLAGS:-}
make -j"$(nproc)"

case "${1:-sample}" in
  sample) PYTHONPATH=. "$PYTHON" samples/registry_leak.py out ;;
  check) make -j"$(nproc)" check ;;
  *) echo "usage: $0 [sample|check|deps]" >&2; exit 2 ;;
esac
