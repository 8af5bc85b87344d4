# Shared helpers for the matrix legs (sourced by scripts/matrix/LEG, which runs from the
# checkout's top directory, as root). Each leg makes a Debian root with debootstrap, clones
# the checkout into it and runs the tests there, so nothing touches the host's Python.
#   MATRIX_CACHE                          ${REEXEC_MATRIX_CACHE:-<checkout>/build/matrix}
#   matrix_root SUITE ARCH NAME PKG...    make or reuse $MATRIX_CACHE/roots/NAME; prints its path
#   matrix_enter ROOT CMD                 run `bash -lc CMD` with ROOT as its / (pivot_root; proc/sys/dev mounted, pip set-up copied)
#   MATRIX_NAMESPACE=(CMD...)             how matrix_enter makes the mount namespace it pivots in
#                                         (default: unshare; lib-emu.sh's emu_enter_with_binfmt adds
#                                         a user namespace with a private binfmt_misc handler)
#   matrix_clone ROOT                     a fresh clone of the committed HEAD at ROOT/root/repo
#   matrix_umount_all DIR                  unmount everything at or below DIR, deepest first
#   matrix_counts LOGFILE                 pytest's summary line(s) as passed=N failed=N skipped=N errors=N
# shellcheck shell=bash
MATRIX_TOP=${MATRIX_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MATRIX_CACHE=${REEXEC_MATRIX_CACHE:-$MATRIX_TOP/build/matrix}
MATRIX_MAX_AGE_DAYS=${MATRIX_MAX_AGE_DAYS:-7}
MATRIX_NAMESPACE=(unshare --mount --propagation private --)

matrix_log() { printf 'matrix: %s\n' "$*" >&2; }

# Everything mounted at or below DIR, deepest first.
_matrix_mounts_below() {
    local dir
    dir=$(realpath -m "$1")
    awk -v r="$dir" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

_matrix_umount_all() {
    local m
    for m in $(_matrix_mounts_below "$1"); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

# The legs' name for it.
matrix_umount_all() { _matrix_umount_all "$@"; }

# A root is reused while its stamp (outside the root: nothing run inside can fake it) records
# the same suite, architecture and package list and is younger than MATRIX_MAX_AGE_DAYS;
# otherwise it is made again from scratch. debootstrap writes into NAME.new, renamed at the
# end, so an interrupted run never leaves a half-made root that looks finished.
matrix_root() {
    local suite=$1 arch=$2 name=$3
    shift 3
    local roots=$MATRIX_CACHE/roots
    local root=$roots/$name stamp=$roots/$name.stamp
    local want
    want="$suite $arch $(printf '%s\n' "$@" | sort -u | tr '\n' ' ')"
    if [ -d "$root" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && [ -n "$(find "$stamp" -mtime -"$MATRIX_MAX_AGE_DAYS")" ]; then
        matrix_log "reusing $root ($want; made $(date -r "$stamp" '+%F %R'))"
        printf '%s\n' "$root"
        return 0
    fi
    mkdir -p "$roots"
    local old
    for old in "$root" "$root.new"; do
        [ -e "$old" ] || continue
        matrix_log "removing $old (stale, different or unfinished)"
        _matrix_umount_all "$old"
        if [ -n "$(_matrix_mounts_below "$old")" ]; then
            matrix_log "still mounted below $old: not removing it"
            return 1
        fi
        rm -rf --one-file-system "$old"
    done
    rm -f "$stamp"
    local include="" args=(--variant=minbase --arch="$arch")
    [ $# -eq 0 ] || include=$(IFS=,; printf '%s' "$*")
    [ -z "$include" ] || args+=(--include="$include")
    local t0=$SECONDS
    if [ "$arch" = "$(dpkg --print-architecture)" ]; then
        matrix_log "debootstrap $suite $arch -> $root"
        debootstrap "${args[@]}" "$suite" "$root.new" >&2 || return 1
    else
        # The second stage runs the root's own programs: through whatever binfmt_misc
        # handler the caller has arranged for ARCH.
        matrix_log "debootstrap --foreign $suite $arch -> $root"
        debootstrap --foreign "${args[@]}" "$suite" "$root.new" >&2 || return 1
        chroot "$root.new" /debootstrap/debootstrap --second-stage >&2 || return 1
    fi
    mv "$root.new" "$root"
    printf '%s\n' "$want" >"$stamp"
    matrix_log "made $root in $((SECONDS - t0)) s"
    printf '%s\n' "$root"
}

# The host's pip configuration and CA files: the files `pip config list -v` would load, the
# files that configuration names (cert, constraint, ...), and the files PIP_CERT / PIP_CONFIG_FILE /
# SSL_CERT_FILE / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE name.
_matrix_pip_files() {
    local pip=() f
    if command -v pip3 >/dev/null 2>&1; then
        pip=(pip3)
    elif python3 -m pip --version >/dev/null 2>&1; then
        pip=(python3 -m pip)
    fi
    if [ ${#pip[@]} -gt 0 ]; then
        "${pip[@]}" config list -v 2>/dev/null \
            | sed -n -e "s/^For variant .*will try loading '\\(.*\\)'\$/\\1/p" \
                -e "s/^[^ ]*='\\(\\/.*\\)'\$/\\1/p" | tr ' ' '\n'
        # (the second: every value that is a path, e.g. cert, constraint, requirement files)
    else  # no pip on the host: the places pip would look
        printf '%s\n' /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.pip/pip.conf" "$HOME/.config/pip/pip.conf"
    fi
    for f in "${PIP_CONFIG_FILE:-}" "${PIP_CERT:-}" "${PIP_CLIENT_CERT:-}" "${SSL_CERT_FILE:-}" \
        "${REQUESTS_CA_BUNDLE:-}" "${CURL_CA_BUNDLE:-}"; do
        [ -z "$f" ] || printf '%s\n' "$f"
    done
}

_matrix_copy_pip_setup() {
    local root=$1 f
    while IFS= read -r f; do
        case $f in /*) ;; *) continue ;; esac
        [ -f "$f" ] || continue
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
    done < <(_matrix_pip_files | sort -u)
}

# Run CMD with bash -lc inside ROOT, in an empty environment but for the pip and CA variables
# that are set here; the mounts are undone when it ends, also on error or interruption (the
# body runs in a subshell whose EXIT trap is its own). Returns CMD's status.
matrix_enter() {
    local root=$1
    shift
    local cmd="$*"
    (
        trap '_matrix_umount_all "$root"' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        # (no set -e: it is ignored when the caller writes `matrix_enter ... || status=$?`)
        # The root a mount point of its own (what it holds already carried along), private:
        # inside a chroot whose / is no mount point, a new mount namespace cannot change its
        # propagation (`unshare --mount-proc`: "cannot change root filesystem propagation").
        mount --rbind "$root" "$root" || exit 1
        mount --make-rprivate "$root" || exit 1
        mount --bind /proc "$root/proc" || exit 1
        mount --bind /sys "$root/sys" || exit 1
        mount --bind /dev "$root/dev" || exit 1
        mount --bind /dev/pts "$root/dev/pts" || exit 1
        mkdir -p "$root/dev/shm" && mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm" || exit 1
        rm -f "$root/etc/resolv.conf"
        cp -L /etc/resolv.conf "$root/etc/resolv.conf" || exit 1
        _matrix_copy_pip_setup "$root" || exit 1
        envs=()
        for v in $(compgen -e | grep -E '^(PIP_[A-Z_]+|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)$'); do
            envs+=("$v=${!v}")
        done
        # The root becomes the root of a mount namespace of its own (pivot_root), not a
        # chroot: inside a chroot the kernel refuses unshare(CLONE_NEWUSER) with EPERM
        # (user_namespaces(7)), and the suite makes user namespaces (a private binfmt_misc).
        "${MATRIX_NAMESPACE[@]}" \
            sh -c "$_MATRIX_PIVOT" matrix-pivot "$root" \
            /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            LANG=C.UTF-8 "${envs[@]}" bash -lc "$cmd"
    )
}

# sh -c body, arguments ROOT CMD...: pivot_root into ROOT (a mount point: matrix_enter
# rbinds it onto itself), detach the old root, run CMD. What stays mounted goes with the
# namespace when CMD ends.
# The root is bound onto itself once more inside the namespace: in a user namespace every
# mount copied from the host's is locked, and pivot_root refuses a locked new root (EINVAL).
_MATRIX_PIVOT='
root=$1; shift
mount --rbind "$root" "$root" && mount --make-rprivate "$root" || exit 1
cd "$root" || exit 1
mkdir -p .matrix-oldroot || exit 1
pivot_root . .matrix-oldroot || exit 1
# A private binfmt_misc instance (MATRIX_KEEP_BINFMT, lib-emu.sh) loses its handlers when its
# last mount goes with the old root: moved into the new root first.
if [ -n "${MATRIX_KEEP_BINFMT:-}" ]; then
    mount --move /.matrix-oldroot/proc/sys/fs/binfmt_misc /proc/sys/fs/binfmt_misc || exit 1
fi
exec chroot . /bin/sh -c "umount -l /.matrix-oldroot && rmdir /.matrix-oldroot && exec \"\$@\"" sh "$@"
'

# A fresh clone of the checkout's committed HEAD (not its work tree) at ROOT/root/repo.
matrix_clone() {
    local root=$1 head
    head=$(git -C "$MATRIX_TOP" rev-parse HEAD) || return 1
    rm -rf "$root/root/repo"
    git clone -q --no-checkout "$MATRIX_TOP" "$root/root/repo" || return 1
    git -C "$root/root/repo" checkout -q --detach "$head" || return 1
    matrix_log "cloned $(git -C "$MATRIX_TOP" log -1 --format='%h %s' | cut -c1-72) into $root/root/repo"
}

# Sums every pytest summary line in LOGFILE ("468 passed, 8 failed, 22 errors in 12.3s", with
# or without the ==== frame; one per pytest run, e.g. the Linux and the Windows suite).
matrix_counts() {
    awk '
        /(passed|failed|skipped|errors?|deselected|no tests ran).* in [0-9.]+s/ {
            n = split($0, w, /[ ,=]+/)
            for (i = 2; i <= n; i++) {
                if (w[i-1] !~ /^[0-9]+$/) continue
                if (w[i] == "passed") p += w[i-1]
                else if (w[i] == "failed") f += w[i-1]
                else if (w[i] == "skipped") s += w[i-1]
                else if (w[i] == "error" || w[i] == "errors") e += w[i-1]
            }
        }
        END { printf "passed=%d failed=%d skipped=%d errors=%d\n", p, f, s, e }
    ' "$1"
}
