# shellcheck shell=bash
# Sourced by scripts/api-check and scripts/api-fuzz: a Python virtualenv of pinned tools, kept
# under the build directory (CARGO_TARGET_DIR or target/) and rebuilt only when its requirements
# file changes. Needs python3 with pip (PyPI reachable); nothing is installed outside the venv.
#
#   venv=$(venv_for fuzz scripts/api/requirements-fuzz.txt)   # then "$venv/bin/schemathesis"

venv_for() {
  local name=$1 requirements=$2 dir stamp want
  dir=${CARGO_TARGET_DIR:-target}/py/$name
  case $dir in /*) ;; *) dir=$PWD/$dir ;; esac # absolute: the tools may run elsewhere
  stamp=$dir/.requirements.sha256
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$dir"
    return 0
  fi
  echo "venv: installing $requirements into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")" || return 1
  local pip
  if python3 -m venv "$dir" >&2 2>/dev/null; then
    pip=("$dir/bin/python" -m pip)
  elif rm -rf "$dir" && python3 -m venv --without-pip "$dir" >&2; then
    # Debian's python3 without python3-venv has no ensurepip: the system's pip fills the venv.
    pip=(python3 -m pip --python "$dir/bin/python")
  else
    echo "venv: python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)" >&2
    return 1
  fi
  # Every package is pinned (the file is a full `pip freeze`): the run is the same everywhere.
  "${pip[@]}" install --quiet --disable-pip-version-check -r "$requirements" >&2 \
    || { echo "venv: pip install -r $requirements failed" >&2; return 1; }
  echo "$want" >"$stamp"
  echo "$dir"
}
