"""Fault injection from the sandbox: execveat refused by a seccomp filter
(tests/progs/seccomp_noexecveat.c), /proc not mounted and a noexec mount (private
mount namespaces, `unshare -m`, root only). Each case runs a child and checks what
ran, or which error came back with its tier and every attempt."""

from __future__ import annotations

import errno

import pytest

from _faults import _unshare_prefix, assert_clean_failure, result_of, run_child
from conftest import child_env, parse_report

pytest_plugins = ["_faults"]  # session fixtures: seccomp_launcher, mount_ns_ok, envdump


# ---- execveat refused by seccomp ---------------------------------------------------

@pytest.mark.parametrize("refusal", ["ENOSYS", "EPERM"])
def test_seccomp_refused_execveat_fexecve_takes_over(refusal, seccomp_launcher, report_prog, tmp_path):
    """execveat refused (old kernel or container profile) and the program still runs.
    ENOSYS: the fexecve tier runs the ELF (glibc's fexecve meets the filter too and
    falls back to /proc/self/fd/N, which the kernel records as AT_EXECFN). EPERM:
    glibc's fexecve gives up as well, so the path tier runs it (AT_EXECFN = path)."""
    prefix = (seccomp_launcher, "-e", str(getattr(errno, refusal)))
    proc = run_child(f"reexec(['report', 'a b'], executable={str(report_prog)!r}, fallback=None)",
                     prefix=prefix, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = parse_report(proc.stdout)
    assert report["argv"] == [b"report", b"a b"]
    if refusal == "ENOSYS":
        assert report["execfn"].startswith("/proc/self/fd/")  # fexecve tier, glibc's /proc path
    else:
        assert report["execfn"] == str(report_prog)  # path tier
    assert report["guard"] == "1"
    assert report["fds"] == "0,1,2,"
    # The refusal is on record: with only execveat allowed, it is the error.
    proc = run_child(f"attempt(['report'], executable={str(report_prog)!r})", prefix=prefix,
                     env=child_env(REEXEC_NATIVE_TIERS="execveat"), cwd=tmp_path)
    info = result_of(proc)
    assert info["attempts"] == [("execveat", getattr(errno, refusal), None)]
    assert info["tier"] == "execveat"
    assert_clean_failure(info)


def test_seccomp_refused_execveat_script_goes_by_path(seccomp_launcher, tmp_path):
    """Under the filter a #! script must not reach glibc's fexecve (its /proc/self/fd/N
    exec would succeed and the interpreter could not open the script): fexecve is
    skipped (not ELF) and the path tier runs it, with $0 its path."""
    script = tmp_path / "script.sh"
    script.write_text('#!/bin/sh\necho "script-ran 0=$0 1=$1 guard=$BITNET_REPAIR_PARENT"\n')
    script.chmod(0o755)
    proc = run_child(f"reexec(['script.sh', 'x y'], executable={str(script)!r}, fallback=None)",
                     prefix=(seccomp_launcher,), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"script-ran 0={script} 1=x y guard=1" in proc.stdout
    assert "cannot open" not in proc.stderr
    # Without the path tier: both fd tiers refuse, and say why.
    proc = run_child(f"attempt(['script.sh'], executable={str(script)!r})", prefix=(seccomp_launcher,),
                     env=child_env(REEXEC_NATIVE_TIERS="execveat,fexecve"), cwd=tmp_path)
    info = result_of(proc)
    assert info["attempts"] == [("execveat", errno.ENOSYS, None), ("fexecve", errno.ENOENT, "not-elf")]
    assert "script-ran" not in proc.stdout
    assert_clean_failure(info)


# ---- /proc not mounted ---------------------------------------------------------------

def test_without_proc_execveat_still_runs_the_descriptor(mount_ns_ok, report_prog, tmp_path):
    proc = run_child(f"reexec(['report', 'no-proc'], executable={str(report_prog)!r}, fallback=None)",
                     prefix=_unshare_prefix("mount -t tmpfs tmpfs /proc"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "argv[1]=" + b"no-proc".hex() in proc.stdout
    assert "execfn=/dev/fd/" in proc.stdout


def test_without_proc_and_execveat_the_path_tier_runs(mount_ns_ok, seccomp_launcher, report_prog, tmp_path):
    """No /proc and execveat refused: the image cannot be verified as ELF through
    /proc, so fexecve is skipped (its glibc fallback would need /proc anyway) and
    the path tier runs the program after its (dev, ino) check."""
    prefix = _unshare_prefix("mount -t tmpfs tmpfs /proc") + (seccomp_launcher,)
    proc = run_child(f"reexec(['report'], executable={str(report_prog)!r}, fallback=None)",
                     prefix=prefix, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"execfn={report_prog}" in proc.stdout
    proc = run_child(f"attempt(['report'], executable={str(report_prog)!r})", prefix=prefix,
                     env=child_env(REEXEC_NATIVE_TIERS="execveat,fexecve"), cwd=tmp_path)
    info = result_of(proc)
    assert info["attempts"] == [("execveat", errno.ENOSYS, None), ("fexecve", errno.EACCES, "not-elf")]
    assert_clean_failure(info)


def test_without_proc_current_exe_fails_and_the_fallback_runs(mount_ns_ok, envdump, tmp_path):
    """reexec() of the running program needs /proc/self/exe on Linux: without it the
    fast path is skipped with a logged reason and the fallback takes over."""
    proc = run_child(f"reexec(['xtask', 'arg'], fallback=CargoRun(cargo={envdump!r}, check_workspace=False))",
                     prefix=_unshare_prefix("mount -t tmpfs tmpfs /proc"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[reexec] current_exe() failed, skipping exec(): [Errno 2]" in proc.stderr
    assert "argv=" + b"arg".hex() in proc.stdout


# ---- the kernel refuses the file -------------------------------------------------------

def test_noexec_mount_is_refused_at_every_tier(mount_ns_ok, report_prog, tmp_path):
    mnt = tmp_path / "noexec"
    mnt.mkdir()
    setup = f"mount -t tmpfs -o noexec tmpfs {mnt}\ncp {report_prog} {mnt}/report"
    for tiers, expected in [("execveat,fexecve,path", [("execveat", errno.EACCES, None)]),
                            ("fexecve", [("fexecve", errno.EACCES, None)]),
                            ("path", [("path", errno.EACCES, None)])]:
        proc = run_child(f"attempt(['report'], executable={str(mnt / 'report')!r})",
                         prefix=_unshare_prefix(setup), env=child_env(REEXEC_NATIVE_TIERS=tiers), cwd=tmp_path)
        info = result_of(proc)
        assert info["type"] == "PermissionError"
        assert info["attempts"] == expected, tiers
        assert "mounted noexec" in info["message"]
        assert "report pid" not in proc.stdout
        assert_clean_failure(info)
