"""Before exec, always (issue 15 item 2; issue 12 item 10): what would fail, or kill
the process, after the point of no return is refused first with tier "check", and the
old process carries on; what the kernel's ENOEXEC meant is said.

Real programs: an aarch64 ELF cross-built with zig (ziglang from PyPI, the test
extra), an x86_64 ELF linked with a missing loader, a script with a missing
interpreter, a copy cut short. binfmt_misc is set up per case in a private user +
mount namespace (Linux >= 6.7 gives each user namespace its own binfmt_misc), so the
host's handlers neither help nor hurt. Each case runs in a child and checks that it
carried on (same descriptors, signal state) and what it printed."""

from __future__ import annotations

import errno
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _faults import assert_clean_failure, result_of, run_child, truncated_copy
from conftest import PYTHON, TESTS, child_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF checks are Linux")
ON_X86_64 = platform.machine() == "x86_64"
QEMU = shutil.which("qemu-aarch64")
# binfmt_misc's register line for qemu-aarch64 (as qemu's scripts/qemu-binfmt-conf.sh writes it).
QEMU_AARCH64 = (r":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:"
                r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:{qemu}:F")


@pytest.fixture(scope="session")
def aarch64_prog(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aarch64") / "hello-aarch64"
    subprocess.run([PYTHON, "-m", "ziglang", "cc", "-target", "aarch64-linux-musl", "-nostdlib", "-static",
                    "-Os", "-o", str(out), str(TESTS / "fixtures" / "aarch64_hello.c")], check=True,
                   env=child_env(ZIG_GLOBAL_CACHE_DIR=str(out.parent / "zig-cache"),
                                 ZIG_LOCAL_CACHE_DIR=str(out.parent / "zig-cache")))
    return out


@pytest.fixture(scope="session")
def userns_ok() -> None:
    probe = subprocess.run(["unshare", "-U", "-r", "-m", "sh", "-c",
                            "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no private binfmt_misc here (user namespaces, Linux >= 6.7): {probe.stderr.strip()}")


def in_userns(setup: str) -> tuple[str, ...]:
    return ("unshare", "-U", "-r", "-m", "sh", "-ec", setup + '\nexec "$@"', "sh")


PRIVATE_BINFMT = "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"
# Nothing to read, only the kernel knows: a private (empty) binfmt_misc first, so the kernel
# consults this namespace's handlers and not the host's (a user namespace that has not mounted
# its own inherits its parent's: a host-wide qemu-aarch64 would run the file), then a tmpfs
# over it, which hides it from the library but not from the kernel.
HIDDEN_BINFMT = PRIVATE_BINFMT + "\nmount -t tmpfs tmpfs /proc/sys/fs/binfmt_misc"


@pytest.mark.skipif(not ON_X86_64, reason="the foreign machine is aarch64 on an x86_64 host")
def test_an_aarch64_elf_is_refused_before_exec_when_no_binfmt_handler_runs_it(aarch64_prog, userns_ok, tmp_path):
    """Fails before the fix: the tiers try it and the message says "truncated or
    half-written: rebuild it"."""
    proc = run_child(f"attempt(['hello'], executable={str(aarch64_prog)!r})",
                     prefix=in_userns(PRIVATE_BINFMT), cwd=tmp_path)
    info = result_of(proc)
    assert (info["errno"], info["tier"]) == (errno.ENOEXEC, "check")
    assert info["attempts"] == [("check", errno.ENOEXEC, None)]
    assert "64-bit aarch64 ELF, this is 64-bit x86_64; no enabled binfmt_misc handler runs it" in info["message"]
    assert "truncated or half-written" not in info["message"]
    assert_clean_failure(info)


@pytest.mark.skipif(not ON_X86_64 or not QEMU, reason="needs qemu-user for aarch64 on x86_64")
def test_an_aarch64_elf_runs_when_binfmt_misc_has_qemu_for_it(aarch64_prog, userns_ok, tmp_path):
    setup = PRIVATE_BINFMT + f"\nprintf '%s\\n' '{QEMU_AARCH64.format(qemu=QEMU)}' > /proc/sys/fs/binfmt_misc/register"
    proc = run_child(f"attempt(['hello'], executable={str(aarch64_prog)!r})",
                     prefix=in_userns(setup), cwd=tmp_path)
    assert proc.stdout == "hello-aarch64\n", proc.stderr
    assert proc.returncode == 0
    assert "[reexec] Check: 64-bit aarch64 ELF, this is 64-bit x86_64: binfmt_misc handler qemu-aarch64 runs it" \
        in proc.stderr


@pytest.mark.skipif(not ON_X86_64, reason="the foreign machine is aarch64 on an x86_64 host")
def test_the_kernels_enoexec_for_an_aarch64_elf_names_the_machine(aarch64_prog, userns_ok, tmp_path):
    """binfmt_misc hidden (cannot tell): not refused, the kernel answers ENOEXEC before
    the point of no return, and the message says what the file is."""
    proc = run_child(f"attempt(['hello'], executable={str(aarch64_prog)!r})",
                     prefix=in_userns(HIDDEN_BINFMT), cwd=tmp_path)
    info = result_of(proc)
    assert info["errno"] == errno.ENOEXEC and info["tier"] == "execveat"
    assert "binfmt_misc is not visible here, the kernel decides" in proc.stderr
    assert "ENOEXEC): 64-bit aarch64 ELF, this is 64-bit x86_64" in info["message"]
    assert "cannot be executed here: 64-bit aarch64 ELF" in info["message"]
    assert_clean_failure(info)


def test_an_elf_whose_loader_is_missing_is_refused_before_exec(tmp_path):
    """PT_INTERP names /nonexistent/ld.so: refused naming the loader, not retried
    (fails before the fix: ENOENT from every tier, retried as a build tool's swap)."""
    prog = tmp_path / "noloader"
    (tmp_path / "hello.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(prog), str(tmp_path / "hello.c"),
                    "-Wl,--dynamic-linker=/nonexistent/ld.so"], check=True)
    proc = run_child(f"attempt(['noloader'], executable={str(prog)!r}, retry_budget=1)", cwd=tmp_path)
    info = result_of(proc)
    assert (info["type"], info["tier"]) == ("FileNotFoundError", "check")
    assert "its ELF loader (PT_INTERP) /nonexistent/ld.so does not exist" in info["message"]
    assert "the interpreter it names (its #! line, or the ELF loader) is missing" in info["message"]
    assert "Retry" not in proc.stderr
    assert_clean_failure(info)


def test_a_script_whose_interpreter_is_missing_is_refused_before_exec(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/nonexistent/interp -x\necho never\n")
    script.chmod(0o755)
    proc = run_child(f"attempt(['script'], executable={str(script)!r}, retry_budget=1)", cwd=tmp_path)
    info = result_of(proc)
    assert info["attempts"] == [("check", errno.ENOENT, "needs-interpreter")]
    assert "its #! interpreter /nonexistent/interp does not exist ('#!/nonexistent/interp -x')" in info["message"]
    assert "Retry" not in proc.stderr
    assert_clean_failure(info)


def test_an_elf_cut_short_is_refused_instead_of_dying_after_exec(report_prog, tmp_path):
    """Headers intact, body cut: before the fix exec "succeeded" and the new image
    died of SIGSEGV (tests/test_hardening_faults.py shows the kernel's side)."""
    target = truncated_copy(report_prog, tmp_path / "half", report_prog.stat().st_size // 2)
    proc = run_child(f"attempt(['t'], executable={str(target)!r})", cwd=tmp_path)
    info = result_of(proc)
    assert (info["errno"], info["tier"]) == (errno.ENOEXEC, "check")
    assert "truncated ELF image" in info["message"] and "needs bytes up to" in info["message"]
    assert_clean_failure(info)


@pytest.mark.parametrize("content, expected", [
    (b"echo hi\n", "a text file without a #! line"),
    (b"", "an empty file"),
    (b"\x7fELF\x02\x01", "shorter than an ELF header"),
])
def test_the_kernels_enoexec_is_told_apart(content, expected, tmp_path):
    """Before the fix every ENOEXEC read "truncated or half-written: rebuild it"."""
    target = tmp_path / "prog"
    target.write_bytes(content)
    target.chmod(0o755)
    info = result_of(run_child(f"attempt(['t'], executable={str(target)!r})", cwd=tmp_path))
    assert info["errno"] == errno.ENOEXEC
    assert expected in info["message"]
    assert_clean_failure(info)


def test_the_cli_says_what_enoexec_meant(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("just some text\n")
    target.chmod(0o755)
    proc = subprocess.run([PYTHON, "-m", "reexec_native", "exec", str(target)], capture_output=True,
                          text=True, env=child_env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 126
    assert "a text file without a #! line" in proc.stderr, proc.stderr


def test_an_exec_only_file_is_not_inspected_and_still_runs(report_prog, tmp_path):
    """Mode 0711 as another user: nothing can read it, so nothing is refused."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="reexec-xonly-"))  # pytest's tmp dirs are 0700
    where.chmod(0o755)
    target = where / "xonly"
    shutil.copy2(report_prog, target)
    target.chmod(0o711)
    proc = run_child(f"""
        # nobody cannot read this venv's files: load first what the attempt imports lazily
        import logging, reexec_native._elf
        os.setgid(65534); os.setuid(65534)
        try:
            open({str(target)!r}, "rb")
        except PermissionError:
            print("unreadable", flush=True)
        attempt(['xonly', 'ran'], executable={str(target)!r})
    """, cwd="/")
    assert proc.stdout.startswith("unreadable\n"), proc.stdout + proc.stderr
    shutil.rmtree(where)
    assert "argv[1]=" + b"ran".hex() in proc.stdout, proc.stderr


def test_elf_class_and_machine_are_named():
    """The wording, from a real header (the running interpreter's) with one field
    patched: another class, another machine."""
    from reexec_native import _elf

    me = _elf.host()
    assert me.kind == "elf"
    other_class = _elf.Image("elf", elf_class=3 - me.elf_class, machine=me.machine)
    assert _elf.foreign_text(other_class).startswith(f"{other_class.bits}-bit ELF of another class")
    other_machine = _elf.Image("elf", elf_class=2, machine=183 if me.machine != 183 else 62)
    assert _elf.foreign_text(other_machine).startswith(f"64-bit {_elf.machine_name(other_machine.machine)} ELF, this is")


@pytest.mark.parametrize("little", [True, False])
def test_header_fields_are_read_as_struct_reads_them(little):
    """The ELF reader's own field decoding (it does not import struct) against struct,
    on the 32- and 64-bit layouts it reads, and on data that ends too early."""
    import random
    import struct

    from reexec_native import _elf

    rng = random.Random(7)
    order = "<" if little else ">"
    for widths in (*_elf._EHDR.values(), *_elf._PHDR.values(), *_elf._DYN.values()):
        fmt = order + "".join({2: "H", 4: "I", 8: "Q"}[w] for w in widths)
        for _ in range(50):
            data = rng.randbytes(sum(widths) + 8)
            offset = rng.randrange(8)
            assert _elf._fields(data, offset, widths, little) == list(struct.unpack_from(fmt, data, offset))
        with pytest.raises(ValueError):
            _elf._fields(bytes(sum(widths) - 1), 0, widths, little)
