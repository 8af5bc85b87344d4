"""The command line, run as a user runs it: `python -m reexec_native ...` and the
installed `reexec-native` script, in child processes; output and exit codes checked."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys

import pytest

from _cli_helpers import PY, console_script, popen, run, run_code
from _env import FAKE_CARGO_METADATA, fake_workspace
from conftest import child_env, parse_report
from test_fast_path import TRICKY_ARGS


@pytest.fixture(params=["module", "script"])
def cli(request) -> list[str]:
    """How the command is started: `python -m reexec_native` or the console script."""
    return [PY, "-m", "reexec_native"] if request.param == "module" else [console_script()]


# --help and exit codes

def test_help_documents_commands_and_exit_codes(cli):
    result = run([*cli, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: reexec-native")
    for text in ("doctor", "exec", "127", "126", "125"):
        assert text in result.stdout


@pytest.mark.parametrize("command, expected", [
    ("exec", ["--retry-budget", "--guard", "--no-fallback", "--cargo-fallback", "127", "126", "125",
              "PROGRAM without a slash is looked up on PATH"]),
    ("doctor", ["--json", "REEXEC_NATIVE_TIERS", "exit status:", "0 if at least one exec tier works"]),
])
def test_subcommand_help(cli, command, expected):
    result = run([*cli, command, "--help"])
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout, text


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["exec"], ["exec", "--retry-budget"],
                                  ["doctor", "--bogus"]])
def test_usage_errors_exit_2(cli, args):
    result = run([*cli, *args])
    assert result.returncode == 2, result.stdout
    assert "usage: reexec-native" in result.stderr


# doctor

def test_doctor_human_table(cli):
    result = run([*cli, "doctor"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "libc" in out and "glibc" in out
    assert f"{os.uname().release}" in out
    assert "native module          loaded" in out
    for tier in ("execveat", "fexecve", "path"):
        assert [line for line in out.splitlines() if line.split()[:2] == [tier, "works"]], tier
    assert [line for line in out.splitlines() if line.split()[:2] == ["createprocess", "unsupported"]]
    assert "current_exe()" in out and "cargo" in out
    assert "reexec() will try: execveat -> fexecve -> path; then cargo run" in out


def test_doctor_json_reflects_the_tier_seam(cli):
    result = run([*cli, "doctor", "--json"], env=child_env(REEXEC_NATIVE_TIERS="fexecve,path"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    tiers = report["tiers"]
    assert tiers["execveat"]["status"] == "disabled"
    assert tiers["execveat"]["detail"] == "disabled by REEXEC_NATIVE_TIERS=fexecve,path"
    assert tiers["fexecve"]["status"] == "works"
    assert tiers["path"]["status"] == "works"
    assert tiers["createprocess"]["status"] == "unsupported"
    assert report["REEXEC_NATIVE_TIERS"] == "fexecve,path"
    assert report["plan"]["fast_path"] == ["fexecve", "path"]
    assert report["native"]["loaded"] is True
    assert report["platform"]["libc"].startswith("glibc")
    assert report["platform"]["kernel"] == os.uname().release
    assert report["features"]["O_PATH"]["status"] == "works"
    assert report["features"]["/proc/self/fd"]["status"] == "works"
    assert os.path.isabs(report["current_exe"]["path"])
    assert report["cargo"]["found"] is True and report["cargo"]["path"] == shutil.which("cargo")


def _loads_from_origin(program: str) -> bool:
    """Does `program` load libraries from $ORIGIN (Debian's PyPy: libpypy3.11-c.so)? Then
    no copy of it outside its own directory can run, memfd included."""
    from reexec_native._elf import inspect_path

    return bool(inspect_path(os.path.realpath(program)).origin_paths)


ORIGIN_SKIP = "memfd: skipped, the program loads libraries from $ORIGIN"


def test_doctor_probes_snapshot_methods_and_their_seam(cli):
    """The probes copy this interpreter: where it loads libraries from $ORIGIN (PyPy),
    memfd cannot copy it, and the doctor says why."""
    both = json.loads(run([*cli, "doctor", "--json"], env=child_env()).stdout)["snapshot"]
    memfd = {"status": "works"}
    if _loads_from_origin(PY):
        memfd = {"status": "fails", "errno": "refused",
                 "detail": f"no sealed copy of the program could be made or run ({ORIGIN_SKIP})"}
    assert both == {"memfd": memfd, "tmpfile": {"status": "works"}}
    seam = json.loads(run([*cli, "doctor", "--json"], env=child_env(REEXEC_NATIVE_SNAPSHOT="tmpfile")).stdout)
    assert seam["snapshot"]["memfd"] == {"status": "disabled", "detail": "disabled by REEXEC_NATIVE_SNAPSHOT=tmpfile"}
    assert seam["snapshot"]["tmpfile"] == {"status": "works"}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and pid namespaces")
def test_doctor_reports_memfd_refused_by_the_kernel(cli):
    """vm.memfd_noexec=2 (per pid namespace): no executable memfd can be made."""
    # Written to /proc directly: sysctl (procps) is not in a minimal Debian 13 root.
    script = 'echo 2 > /proc/sys/vm/memfd_noexec && exec "$@" doctor --json'
    result = run(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script, "sh", *cli], env=child_env())
    assert result.returncode == 0, result.stderr
    snapshot = json.loads(result.stdout)["snapshot"]
    assert snapshot["memfd"]["status"] == "fails", snapshot
    assert snapshot["memfd"]["errno"] == "refused"
    assert snapshot["tmpfile"] == {"status": "works"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memfd and $ORIGIN: Linux")
def test_doctor_says_why_memfd_cannot_copy_an_interpreter_that_loads_from_origin():
    """Debian's PyPy loads libpypy3.11-c.so from $ORIGIN, so snapshot mode makes no copy
    of it outside its directory; the doctor's memfd probe said only "no memfd copy could
    be made" (errno refused), as if the kernel refused memfds. Emulated here by an image
    inspection that reports a $ORIGIN RUNPATH for every program."""
    result = run_code("""
        import sys
        from reexec_native import _elf, _exe, cli
        real = _elf.inspect_fd
        def inspect_fd(*args):
            image = real(*args)
            image.origin_paths = ["$ORIGIN/lib"]
            return image
        _exe.inspect_fd = inspect_fd
        sys.exit(cli.main(["doctor", "--json"]))
    """, env=child_env(REEXEC_NATIVE_SNAPSHOT="memfd"))
    memfd = json.loads(result.stdout)["snapshot"]["memfd"]
    assert memfd == {"status": "fails", "errno": "refused",
                     "detail": f"no sealed copy of the program could be made or run ({ORIGIN_SKIP})"}, memfd


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_PATH: Linux")
def test_doctor_probes_o_path_where_os_does_not_define_it():
    """PyPy's os has no O_PATH although the kernel has it and the C core opens every
    program with it: the doctor reported O_PATH "unsupported" there."""
    result = run_code("""
        import os, sys
        if hasattr(os, "O_PATH"):
            del os.O_PATH
        from reexec_native import cli
        sys.exit(cli.main(["doctor", "--json"]))
    """)
    assert json.loads(result.stdout)["features"]["O_PATH"] == {"status": "works"}, result.stdout


def test_doctor_human_table_shows_disabled_tier(cli):
    result = run([*cli, "doctor"], env=child_env(REEXEC_NATIVE_TIERS="execveat"))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["path"])
    assert "disabled" in line and "REEXEC_NATIVE_TIERS=execveat" in line


def test_doctor_probe_failure_is_reported_with_errno(tmp_path):
    """A tier that fails shows its errno: an open_exe that raises stands in for a
    kernel without the syscall (the probes, forks of the doctor, call the public name)."""
    result = run([PY, "-c", """
import errno
import reexec_native
from reexec_native import _doctor
def refuse(path, snapshot=False):
    e = OSError(errno.ENOSYS, 'Function not implemented'); e.tier = 'execveat'; raise e
reexec_native.open_exe = refuse
report = _doctor.diagnose()
print(report["tiers"]["execveat"]["status"], report["tiers"]["execveat"]["errno"], report["plan"]["ok"])
print(_doctor.format_report(report))
"""])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "fails ENOSYS False"
    assert "fails: ENOSYS" in result.stdout
    assert "reexec() will try: none" in result.stdout


def test_a_hung_probe_is_reported_and_the_others_are_not_lost():
    """A probe still running at PROBE_TIMEOUT is killed and reported as such; the
    probes running beside it report what they found."""
    result = run([PY, "-c", """
import os, time
import reexec_native
from reexec_native import _doctor
_doctor.PROBE_TIMEOUT = 2.0
real = reexec_native.open_exe
def hang_for_fexecve(path, snapshot=False):
    if os.environ.get("REEXEC_NATIVE_TIERS") == "fexecve":
        time.sleep(600)
    return real(path, snapshot=snapshot)
reexec_native.open_exe = hang_for_fexecve
report = _doctor.diagnose()
for name, entry in report["tiers"].items():
    print(name, entry["status"], entry.get("detail"))
print(_doctor.format_report(report))
"""])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["execveat works None", "fexecve fails probe did not finish within 2 s (killed)",
                         "path works None"], result.stdout
    assert "reexec() will try: execveat -> path; then cargo run" in result.stdout


def test_doctor_without_a_process_to_spare():
    """fork failing (EAGAIN: a process limit) is reported by each probe, not a crash,
    and cargo is asked by the doctor itself."""
    result = run([PY, "-c", """
import errno, os
from reexec_native import _doctor
def no_fork():
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
os.fork = no_fork
report = _doctor.diagnose()
print(report["tiers"]["execveat"]["status"], report["tiers"]["execveat"]["detail"])
print(report["cargo"]["found"], report["plan"]["ok"])
"""])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "fails probe did not run: [Errno 11] Resource temporarily unavailable", "True False"], result.stdout


def test_doctor_with_an_invalid_seam_exits_1(cli):
    result = run([*cli, "doctor", "--json"], env=child_env(REEXEC_NATIVE_TIERS="execveat,bogus"))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert "unknown tier 'bogus'" in report["seam_error"]
    assert {t["status"] for t in report["tiers"].values()} == {"disabled", "unsupported"}
    assert report["plan"]["ok"] is False


def test_doctor_without_cargo(cli, tmp_path):
    env = child_env(PATH=str(tmp_path), CARGO=None)
    result = run([*cli, "doctor", "--json", "--no-probe"], env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cargo"]["found"] is False
    assert "not found on PATH" in report["cargo"]["error"]
    assert report["tiers"]["execveat"]["status"] == "not probed"
    assert report["plan"]["fallback"] == "cargo run, which will fail: cargo not found"


# exec

def test_exec_replaces_the_cli_process(cli, report_prog):
    pid, result = popen([*cli, "exec", "--", report_prog, *TRICKY_ARGS])
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert int(report["report pid"]) == pid  # the same process: exec, not spawn
    assert report["argv"] == [str(report_prog).encode()] + [a.encode() for a in TRICKY_ARGS]
    assert report["execfn"].startswith("/dev/fd/")  # through the descriptor
    assert report["guard"] == "<unset>"  # no guard unless asked
    assert result.stderr == ""  # quiet unless -v


def test_exec_looks_up_path_and_keeps_argv0_as_given(cli, report_prog, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy2(report_prog, bindir / "myreport")
    env = child_env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    result = run([*cli, "exec", "myreport", "--", "-v", "--guard"], env=env)
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["argv"] == [b"myreport", b"--", b"-v", b"--guard"]  # everything after PROGRAM is its own


def test_exec_exit_code_is_the_programs(cli, report_prog):
    result = run([*cli, "exec", "--", report_prog], env=child_env(REPORT_EXIT="42"))
    assert result.returncode == 42, result.stderr


def test_exec_guard(cli, report_prog):
    result = run([*cli, "exec", "--guard", "BITNET_REPAIR_PARENT", "--", report_prog])
    assert result.returncode == 0, result.stderr
    assert parse_report(result.stdout)["guard"] == "1"
    result = run([*cli, "exec", "--guard", "BITNET_REPAIR_PARENT", "--", report_prog],
                 env=child_env(BITNET_REPAIR_PARENT="1"))
    assert result.returncode == 125
    # In the CLI's own terms (before the fix: "pass guard=None to allow it").
    assert result.stderr == (
        f"reexec-native: refusing to run {report_prog}: BITNET_REPAIR_PARENT=1 is already set here, so this "
        "is itself a re-exec (leave out --guard BITNET_REPAIR_PARENT, or unset BITNET_REPAIR_PARENT, to allow it)\n")
    assert result.stdout == ""
    # --guard '' is no guard, as --features '' is no features.
    result = run([*cli, "exec", "--guard", "", "--", report_prog], env=child_env(BITNET_REPAIR_PARENT="1"))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tier", ["execveat", "fexecve", "path"])
def test_exec_honours_the_tier_seam(cli, report_prog, tier):
    result = run([*cli, "exec", "-v", "--", report_prog, "x"], env=child_env(REEXEC_NATIVE_TIERS=tier))
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["argv"] == [str(report_prog).encode(), b"x"]
    assert (report["execfn"] == str(report_prog)) == (tier == "path")
    assert f"[reexec] Fast path: {report_prog}\n" in result.stderr  # -v: the library's log lines


def test_exec_invalid_seam_exits_125(cli, report_prog):
    result = run([*cli, "exec", "--", report_prog], env=child_env(REEXEC_NATIVE_TIERS="nope"))
    assert result.returncode == 125
    assert "unknown tier 'nope'" in result.stderr


def test_exec_not_on_path_exits_127(cli, tmp_path):
    result = run([*cli, "exec", "--", "no-such-program-xyz", "a"], env=child_env(PATH=str(tmp_path)))
    assert result.returncode == 127
    assert result.stderr == f"reexec-native: no-such-program-xyz: not found on PATH={str(tmp_path)!r}\n"


def test_exec_missing_path_exits_127_naming_path_tier_errno(cli, tmp_path):
    missing = tmp_path / "gone"
    result = run([*cli, "exec", "--retry-budget", "0.02", "--", missing])
    assert result.returncode == 127
    assert result.stderr.startswith(f"reexec-native: cannot execute {missing}: No such file or directory")
    assert "(tier open, errno ENOENT)" in result.stderr


@pytest.mark.parametrize("kind", ["no-x-bit", "directory"])
def test_exec_not_executable_exits_126(cli, tmp_path, kind):
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_text("#!/bin/sh\necho hi\n")
        target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    result = run([*cli, "exec", "--", target])
    assert result.returncode == 126
    assert f"cannot execute {target}: Permission denied" in result.stderr
    assert "errno EACCES" in result.stderr


def test_exec_non_elf_garbage_exits_126(cli, tmp_path):
    target = tmp_path / "garbage"
    target.write_bytes(b"\x00\x01 not a program\n")
    target.chmod(0o755)
    result = run([*cli, "exec", "--", target])
    assert result.returncode == 126, result.stderr
    assert "errno ENOEXEC" in result.stderr and str(target) in result.stderr


def test_exec_runs_a_shell_script(cli, tmp_path):
    """A #! script goes through the path tier, with $0 its path, like the shell's exec."""
    script = tmp_path / "s.sh"
    script.write_text('#!/bin/sh\necho "script $0 $# $1 pid=$$"\nexit 9\n')
    script.chmod(0o755)
    pid, result = popen([*cli, "exec", "--", script, "one arg"])
    assert result.returncode == 9, result.stderr
    assert result.stdout == f"script {script} 1 one arg pid={pid}\n"


def test_exec_from_a_shell_script_like_exec(report_prog, tmp_path):
    """The use it is meant for: the last line of a shell script."""
    wrapper = tmp_path / "wrapper.sh"
    wrapper.write_text(f'#!/bin/sh\necho "wrapper pid=$$"\nexec "{console_script()}" exec -- "$@"\n')
    wrapper.chmod(0o755)
    result = run([wrapper, report_prog, "a b"])
    assert result.returncode == 0, result.stderr
    report = parse_report(result.stdout)
    assert report["report pid"] == report["wrapper pid"]
    assert report["argv"] == [str(report_prog).encode(), b"a b"]


def test_no_fallback_flag_is_accepted_and_is_the_default(cli, tmp_path):
    missing = tmp_path / "gone"
    for flags in ([], ["--no-fallback"]):
        result = run([*cli, "exec", *flags, "--retry-budget", "0", "--", missing], env=child_env(CARGO="/bin/false"))
        assert result.returncode == 127, result.stderr
        assert "cargo" not in result.stderr
    result = run([*cli, "exec", "--no-fallback", "--cargo-fallback", "--", missing])
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


# doctor tells the truth about a refusing reexec() and restricted tiers (issue 12, item 12)

def test_doctor_plan_says_reexec_refuses_with_an_invalid_seam(cli):
    """Before the fix: "reexec() will try: none (every exec goes to the fallback);
    then cargo run", while reexec() raises ValueError and runs nothing."""
    result = run([*cli, "doctor", "--no-probe"], env=child_env(REEXEC_NATIVE_TIERS="bogus"))
    assert result.returncode == 1
    plan = result.stdout.splitlines()[-1]
    assert plan.startswith("reexec() will refuse and run nothing: ValueError: REEXEC_NATIVE_TIERS='bogus': "
                           "unknown tier 'bogus'"), plan
    assert "fallback" not in plan and "cargo" not in plan
    snapshot = [line for line in result.stdout.splitlines() if line.split()[:1] in (["memfd"], ["tmpfile"])]
    # In the order tried: tmpfile next to the program, memfd, tmpfile in the temp directory.
    assert len(snapshot) == 3 and all("disabled -- REEXEC_NATIVE_TIERS is invalid" in line for line in snapshot)
    report = json.loads(run([*cli, "doctor", "--json", "--no-probe"],
                            env=child_env(REEXEC_NATIVE_TIERS="bogus")).stdout)
    assert report["plan"]["refuses"].startswith("ValueError: REEXEC_NATIVE_TIERS='bogus'")
    # And the plan is right that reexec() refuses.
    refused = run([PY, "-c", "from reexec_native import reexec\ntry:\n reexec(['true'], executable='/bin/true')\n"
                   "except ValueError as e:\n print('refused', e)"], env=child_env(REEXEC_NATIVE_TIERS="bogus"))
    assert refused.stdout.startswith("refused REEXEC_NATIVE_TIERS='bogus'"), refused.stderr


def test_doctor_plan_says_reexec_refuses_when_the_guard_is_set(cli):
    result = run([*cli, "doctor", "--no-probe"], env=child_env(BITNET_REPAIR_PARENT="1"))
    assert result.stdout.splitlines()[-1] == (
        "reexec() will refuse and run nothing: RecursionGuardError: BITNET_REPAIR_PARENT is set, "
        "so this process is itself a re-exec (guard=None allows it)")


def test_doctor_snapshot_lines_read_as_text_with_only_the_path_tier(cli):
    """Before the fix: "fails: ENOSYS -- ... (tier tiers 0x0; tried tiers 0x0: ENOSYS
    (tier not available on this platform))"."""
    result = run([*cli, "doctor"], env=child_env(REEXEC_NATIVE_TIERS="path"))
    assert result.returncode == 0, result.stderr
    assert "0x" not in result.stdout
    for method in ("memfd", "tmpfile"):
        line = next(line for line in result.stdout.splitlines() if line.split()[:1] == [method])
        assert line.split()[1] == "disabled", line
        assert ("a sealed copy has no path, so only execveat or fexecve can run it, and "
                "REEXEC_NATIVE_TIERS=path leaves both out") in line
    assert result.stdout.splitlines()[-1] == f"reexec() will try: path; then cargo run ({shutil.which('cargo')})"


def test_snapshot_with_only_the_path_tier_says_why_and_runs_the_file(report_prog, tmp_path):
    """reexec(snapshot=True) with REEXEC_NATIVE_TIERS=path: each copy's refusal reads
    as text, and the file itself runs through the path tier."""
    result = run([PY, "-c", f"from reexec_native import reexec\n"
                  f"reexec(['report'], executable={str(report_prog)!r}, snapshot=True, fallback=None)"],
                 env=child_env(REEXEC_NATIVE_TIERS="path"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_report(result.stdout)["execfn"] == str(report_prog)
    assert "0x" not in result.stderr
    assert ("[reexec] Snapshot memfd could not run: [Errno 38] Function not implemented (no exec tier to try: "
            "a sealed copy has no path, so only the execveat and fexecve tiers can run it, and "
            "REEXEC_NATIVE_TIERS=path leaves both out)") in result.stderr


# The CLI says what it means in its own terms (issue 12, item 13)

def test_cargo_mode_as_a_separate_word_is_refused_with_a_hint(cli, tmp_path):
    """Before the fix `exec --cargo-fallback run true` ran the program `run` and, with
    it missing, called cargo with the argument `true`."""
    marker = tmp_path / "cargo-ran"
    cargo = tmp_path / "cargo"
    cargo.write_text(f"#!/bin/sh\n{FAKE_CARGO_METADATA}\ntouch {marker}\n")
    cargo.chmod(0o755)
    fake_workspace(tmp_path)
    for mode in ("run", "build-exec"):
        result = run([*cli, "exec", "--cargo-fallback", mode, "true"], env=child_env(CARGO=str(cargo)))
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == (
            f"reexec-native exec: error: '{mode}' after --cargo-fallback would be PROGRAM (and cargo would run "
            f"it): the mode is --cargo-mode {mode} (or --cargo-fallback={mode}); for a program named {mode}, "
            f"write --cargo-fallback -- {mode} ...")
    assert not marker.exists()
    # The unambiguous spellings: a mode option, or the = form; and -- for a program named run.
    for spelling in (["--cargo-fallback", "--cargo-mode", "run"], ["--cargo-fallback=run"], ["--cargo-fallback"]):
        result = run([*cli, "exec", *spelling, "--retry-budget", "0", "--", tmp_path / "gone", "a"],
                     env=child_env(CARGO=str(cargo)), cwd=tmp_path)
        assert result.returncode == 0, (spelling, result.stderr)  # our fake cargo's status
        assert marker.exists()
        marker.unlink()
    result = run([*cli, "exec", "--cargo-mode", "build-exec", "--", "true"])
    assert result.returncode == 2
    assert "--cargo-mode needs --cargo-fallback" in result.stderr


def test_help_shows_the_unambiguous_cargo_options(cli):
    out = run([*cli, "exec", "--help"]).stdout
    assert "--cargo-fallback [MODE]" not in out
    assert "--cargo-mode MODE" in out


def test_help_shows_the_library_defaults(cli):
    """exec's defaults are reexec()'s and CargoRun's own (an option left out is not
    passed on), and --help reads them from there."""
    import inspect

    from reexec_native import CargoRun, reexec

    out = " ".join(run([*cli, "exec", "--help"]).stdout.split())
    library = {**inspect.signature(reexec).parameters, **inspect.signature(CargoRun).parameters}
    assert f"retried (default {library['retry_budget'].default:g})" in out
    assert f"may take (default {library['verify_timeout'].default:g})" in out
    assert f"fallback (default {library['package'].default})" in out
    assert f"(default {','.join(library['features'].default)}; '' for none)" in out
    assert f"default {library['mode'].default}; --cargo-fallback=MODE" in out


def test_unknown_cargo_mode_is_a_usage_error_naming_the_modes(cli):
    for spelling in (["--cargo-fallback", "--cargo-mode", "bogus"], ["--cargo-fallback=bogus"]):
        result = run([*cli, "exec", *spelling, "--", "true"])
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines()[-1] == (
            "reexec-native exec: error: --cargo-mode: mode must be one of 'run', 'build-exec', not 'bogus'")


@pytest.mark.parametrize("option", ["-weird", "--weird", "-x"])
def test_unknown_option_says_so_not_args_required(cli, option):
    """Before the fix: "the following arguments are required: PROGRAM, ARGS"."""
    result = run([*cli, "exec", option, "a"])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"reexec-native exec: error: unknown option {option}; a PROGRAM whose name starts with '-' goes "
        f"after `--`: reexec-native exec [options] -- {option} [ARGS...]")
    assert "ARGS" not in result.stderr.splitlines()[-1].split(";")[0]


def test_missing_program_names_only_program(cli):
    result = run([*cli, "exec", "-v"])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "reexec-native exec: error: PROGRAM required: reexec-native exec [options] -- PROGRAM [ARGS...]")


@pytest.mark.parametrize("args, message", [
    (["--retry-budget", "-1"], "argument --retry-budget: must be a number of seconds, finite and >= 0, not '-1'"),
    (["--retry-budget", "nan"], "argument --retry-budget: must be a number of seconds, finite and >= 0, not 'nan'"),
    (["--guard", "A=B"], "argument --guard: must be an environment variable name, without '=': 'A=B'"),
    (["--cargo-fallback", "--manifest-path", ""], "argument --manifest-path: must not be empty"),
    (["--c"], "ambiguous option --c (could be --cargo-fallback, --cargo-mode)"),
])
def test_bad_option_values_are_named_as_options(cli, args, message):
    """Before the fix: "retry_budget must be finite and >= 0" (the Python parameter),
    and a traceback for an empty --manifest-path."""
    result = run([*cli, "exec", *args, "--", "true"])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"reexec-native exec: error: {message}"), result.stderr
    assert "Traceback" not in result.stderr and "retry_budget" not in result.stderr


def test_unambiguous_prefixes_work_as_in_argparse(cli, report_prog):
    """`--retry 0` is --retry-budget 0 (argparse accepts prefixes); before, `0` became PROGRAM."""
    result = run([*cli, "exec", "--retry", "0", "--verb", "--", report_prog, "x"])
    assert result.returncode == 0, result.stderr
    assert parse_report(result.stdout)["argv"] == [str(report_prog).encode(), b"x"]


def test_which_answers_as_shutil_which(tmp_path, monkeypatch):
    """cli._which is shutil.which without shutil's import cost: the same answers."""
    import shutil

    from reexec_native import cli

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "tool").chmod(0o755)
    (tmp_path / "bin" / "plain").write_text("not executable")
    (tmp_path / "bin" / "dir").mkdir()
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "plain").write_text("#!/bin/sh\n")
    (tmp_path / "later" / "plain").chmod(0o755)
    monkeypatch.chdir(tmp_path / "bin")
    for path in (f"{tmp_path}/bin:{tmp_path}/later:/usr/bin:/bin", f":{tmp_path}/later", "", None):
        if path is None:
            monkeypatch.delenv("PATH", raising=False)
        else:
            monkeypatch.setenv("PATH", path)
        for name in ("tool", "plain", "dir", "sh", "no-such-program"):
            assert cli._which(name) == shutil.which(name), (path, name)
