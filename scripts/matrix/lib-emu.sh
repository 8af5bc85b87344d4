# Emulator helpers for the debian13-arm64, kernels and pypy legs (sourced after lib.sh).
# shellcheck shell=bash

# A Debian 13 amd64 root that provides what the emulated legs take from Debian 13:
# qemu-user 10 (the static qemu-aarch64, which has execveat; Debian 12's 7.2 has not)
# and pypy3 7.3.19.
EMU_AMD64_NAME=debian13-amd64-emu
EMU_AMD64_PKGS=(python3 python3-venv python3-dev gcc libc6-dev git ca-certificates
                qemu-user-static pypy3 pypy3-dev pypy3-venv)
emu_amd64_root() { matrix_root trixie amd64 "$EMU_AMD64_NAME" "${EMU_AMD64_PKGS[@]}"; }

# The static qemu-aarch64 of that root.
emu_qemu_aarch64() {
    local root=$1 q
    for q in usr/bin/qemu-aarch64-static usr/bin/qemu-aarch64; do
        if [ -x "$root/$q" ]; then printf '%s\n' "$root/$q"; return 0; fi
    done
    matrix_log "no qemu-aarch64 in $root"; return 1
}

# binfmt_misc's register line for qemu-aarch64 (qemu's scripts/qemu-binfmt-conf.sh), with
# flags P (keep argv[0]), O C (credentials of the binary) and F (the interpreter is opened
# now, so it is found from inside any root).
emu_binfmt_line() {
    printf ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:%s:POCF' "$1"
}

# chroot ROOT CMD... with aarch64 programs run by qemu-aarch64 (EMU_QEMU) through a
# PRIVATE binfmt_misc instance: a new user namespace (ids mapped one to one) and mount
# namespace, where binfmt_misc is mounted afresh (Linux >= 6.7). The host's binfmt_misc
# is never touched. proc, sys and dev are bind-mounted into ROOT when not already
# (debootstrap's second stage); those mounts end with the namespace. container=lxc tells
# debootstrap's second stage that it cannot mknod here (it tests that, and stops).
emu_chroot() {
    [ -n "${EMU_QEMU:-}" ] || { matrix_log "EMU_QEMU is not set"; return 1; }
    container=lxc "$MATRIX_TOP/scripts/matrix/userns-run" bash -c '
        set -e
        line=$1 root=$2; shift 2
        mount --make-rprivate /
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
            || { echo "matrix: no private binfmt_misc (needs Linux >= 6.7)" >&2; exit 125; }
        printf "%s" "$line" > /proc/sys/fs/binfmt_misc/register
        for m in proc sys dev; do
            mountpoint -q "$root/$m" || mount --rbind "/$m" "$root/$m"
        done
        exec chroot "$root" "$@"' emu-chroot "$(emu_binfmt_line "$EMU_QEMU")" "$@"
}

# Make matrix_enter run in a user namespace (ids mapped one to one) with a mount namespace
# of its own and a private binfmt_misc instance where qemu-aarch64 (EMU_QEMU) is registered,
# so the arm64 root's own programs run, from its `chroot` on (the root's / after pivot_root
# is no chroot: the suite inside may make user namespaces of its own).
emu_enter_with_binfmt() {
    [ -n "${EMU_QEMU:-}" ] || { matrix_log "EMU_QEMU is not set"; return 1; }
    MATRIX_NAMESPACE=("$MATRIX_TOP/scripts/matrix/userns-run" bash -c '
        set -e
        line=$1; shift
        mount --make-rprivate /
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
            || { echo "matrix: no private binfmt_misc (needs Linux >= 6.7)" >&2; exit 125; }
        printf "%s" "$line" > /proc/sys/fs/binfmt_misc/register
        MATRIX_KEEP_BINFMT=1 exec "$@"' emu-enter "$(emu_binfmt_line "$EMU_QEMU")")
}

# Seconds since $1 (date +%s).
emu_since() { echo $(( $(date +%s) - $1 )); }

# The matrix-result line; returns non-zero when anything failed or errored or the
# run itself failed (status $4).
emu_result() {
    local leg=$1 log=$2 start=$3 status=${4:-0} counts
    counts=$(matrix_counts "$log")
    printf 'matrix-result: %s %s wall=%ss\n' "$leg" "$counts" "$(emu_since "$start")"
    case "$counts" in *"failed=0 "*"errors=0"*) ;; *) return 1;; esac
    case "$counts" in "passed=0 "*) return 1;; esac
    return "$status"
}
