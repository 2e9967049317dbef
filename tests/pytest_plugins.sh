# Sourced by tests/pip_install.sh and tests/sdist.sh, which run pytest outside
# make: the plugins `make check` loads (Makefile.am's check-local), with
# autoloading off.  pytest_plugin_args PY fills the array plugins with
# hypothesis's plugin where PY has it, and pytest-xdist with PYTEST_JOBS
# workers (default auto: one per core) where PY has it and PYTEST_JOBS is not 1.
pytest_plugin_args() {
  local py=$1 jobs=${PYTEST_JOBS:-auto}
  plugins=()
  if env -u PYTHONPATH "$py" -c 'import _hypothesis_pytestplugin' 2>/dev/null; then
    plugins+=(-p _hypothesis_pytestplugin)
  fi
  if [ "$jobs" != 1 ] && env -u PYTHONPATH "$py" -c 'import xdist' 2>/dev/null; then
    plugins+=(-p xdist -n "$jobs" --dist loadgroup)
  fi
}
