# Sourced by scripts/demo and scripts/test: make (once) and use the project's own virtual
# environment, so the README's two commands also work with a distribution's Python that
# PEP 668 marks externally managed (Debian 12's /usr/bin/python3).
#   PYTHON   the interpreter that makes the venv (default: python3 on PATH)
#   VENV     where (default: build/venv; ignored by git)
# Afterwards $VPY is the venv's python. A stock Debian/Ubuntu machine may lack the venv
# module (python3-venv), the headers the extension compiles against (python3-dev) or a C
# compiler: they are installed with apt-get, as scripts/install-deps does for the rest.

_base_python=${PYTHON:-python3}
VENV=${VENV:-$PWD/build/venv}

_venv_apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    command -v apt-get >/dev/null 2>&1 || {
        echo "scripts/lib/venv.sh: $_base_python lacks $*; install it (no apt-get here)" >&2
        return 1
    }
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "$@"
}

_venv_needs() {  # the Debian packages $_base_python lacks for making the venv and the build
    local need=()
    # ensurepip is what Debian splits out into python3-venv (python3.X-venv)
    "$_base_python" -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
    "$_base_python" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        >/dev/null 2>&1 || need+=(python3-dev)
    command -v "${CC:-cc}" >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    echo "${need[@]-}"
}

_venv_fresh() {  # the venv exists and was made by the same interpreter
    [ -x "$VENV/bin/python" ] || return 1
    local want have
    want=$("$_base_python" -c 'import sys; print(sys.base_prefix, sys.version)')
    have=$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix, sys.version)' 2>/dev/null) || return 1
    [ "$want" = "$have" ]
}

if ! _venv_fresh; then
    # shellcheck disable=SC2046
    need=$(_venv_needs)
    if [ -n "$need" ]; then
        # shellcheck disable=SC2086
        _venv_apt_install $need
    fi
    rm -rf "$VENV"
    "$_base_python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
VPY=$VENV/bin/python
