# Shared helpers for the matrix legs (sourced by scripts/matrix/LEG, run from the checkout's top).
#   MATRIX_CACHE                    where the Debian roots live ($MATRIX_CACHE/roots/NAME)
#   matrix_root SUITE ARCH NAME PKG...   make or reuse a debootstrap root; prints its path
#   matrix_enter ROOT CMD           run CMD (bash -lc) in ROOT with proc/sys/dev mounted, pip config copied
#   matrix_clone ROOT               fresh clone of the committed HEAD into ROOT/root/repo
#   matrix_counts LOGFILE           pytest's summary as passed=N failed=N skipped=N errors=N
# shellcheck shell=bash
MATRIX_TOP=${MATRIX_TOP:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}
MATRIX_CACHE=${REEXEC_MATRIX_CACHE:-$MATRIX_TOP/build/matrix}
MATRIX_MAX_AGE_DAYS=7

matrix_log() { printf 'matrix: %s\n' "$*" >&2; }

# A root is reused when its stamp records the same suite, arch and package list and is
# younger than MATRIX_MAX_AGE_DAYS; otherwise it is made again from scratch.
matrix_root() {
    local suite=$1 arch=$2 name=$3; shift 3
    local root=$MATRIX_CACHE/roots/$name
    local want; want="$suite $arch $(printf '%s\n' "$@" | sort -u | tr '\n' ' ')"
    local stamp=$root/.matrix-stamp
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && [ -z "$(find "$stamp" -mtime +"$MATRIX_MAX_AGE_DAYS")" ]; then
        matrix_log "reusing root $root ($want)"
        printf '%s\n' "$root"; return 0
    fi
    if [ -e "$root" ]; then
        matrix_log "root $root is stale or different: removing it"
        matrix_umount_all "$root"
        rm -rf --one-file-system "$root"
    fi
    mkdir -p "$MATRIX_CACHE/roots"
    local include; include=$(IFS=,; printf '%s' "$*")
    local host_arch; host_arch=$(dpkg --print-architecture)
    matrix_log "debootstrap $suite $arch -> $root"
    if [ "$arch" = "$host_arch" ]; then
        debootstrap --variant=minbase --arch="$arch" ${include:+--include="$include"} "$suite" "$root" >&2 \
            || { matrix_log "debootstrap $suite $arch failed"; return 1; }
    else
        debootstrap --variant=minbase --arch="$arch" --foreign ${include:+--include="$include"} "$suite" "$root" >&2 \
            && chroot "$root" /debootstrap/debootstrap --second-stage >&2 \
            || { matrix_log "debootstrap $suite $arch failed"; return 1; }
    fi
    printf '%s\n' "$want" > "$stamp"
    printf '%s\n' "$root"
}

# Unmount everything mounted below ROOT (deepest first).
matrix_umount_all() {
    local root; root=$(realpath "$1")
    local m
    for m in $(awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}

# The host's pip configuration and CA files, copied into the root at the same paths.
matrix_copy_pip_config() {
    local root=$1 f
    local files=()
    if command -v pip >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1; then
        while IFS= read -r f; do files+=("$f"); done < <(
            python3 -m pip config list -v 2>/dev/null | sed -n "s/^For variant .*will try loading '\\(.*\\)'\$/\\1/p")
    fi
    for f in "${PIP_CONFIG_FILE:-}" "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}"; do
        [ -n "$f" ] && files+=("$f")
    done
    # and the files those name (cert, constraint, ...)
    local named=() v
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        while IFS= read -r v; do named+=("$v"); done < <(sed -n 's/^[^=#;]*=[[:space:]]*\(\/[^[:space:]]*\)[[:space:]]*$/\1/p' "$f")
    done
    files+=("${named[@]}")
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
    done
}

matrix_enter() {
    local root=$1; shift
    local cmd=$*
    local envs=() v
    for v in PIP_CONFIG_FILE PIP_CERT PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST SSL_CERT_FILE REQUESTS_CA_BUNDLE CI; do
        [ -n "${!v:-}" ] && envs+=("$v=${!v}")
    done
    mountpoint -q "$root/proc" || mount --bind /proc "$root/proc"
    mountpoint -q "$root/sys" || mount --bind /sys "$root/sys"
    mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
    mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
    mkdir -p "$root/dev/shm"
    mountpoint -q "$root/dev/shm" || mount -t tmpfs tmpfs "$root/dev/shm"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    matrix_copy_pip_config "$root"
    local status=0
    # shellcheck disable=SC2064
    trap "matrix_umount_all '$root'" EXIT INT TERM
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        LANG=C.UTF-8 "${envs[@]}" bash -lc "$cmd" || status=$?
    matrix_umount_all "$root"
    trap - EXIT INT TERM
    return "$status"
}

matrix_clone() {
    local root=$1
    rm -rf "$root/root/repo"
    git clone -q "$MATRIX_TOP" "$root/root/repo"
}

matrix_counts() {
    python3 - "$1" <<'PY'
import re, sys
counts = dict.fromkeys(("passed", "failed", "skipped", "errors"), 0)
text = open(sys.argv[1], errors="replace").read()
for line in text.splitlines():
    if not re.search(r"\b(passed|failed|error|errors|skipped|no tests ran)\b.* in [0-9.]+s", line):
        continue
    for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", line):
        counts["errors" if word.startswith("error") else word] += int(n)
print(" ".join(f"{k}={v}" for k, v in counts.items()))
PY
}
