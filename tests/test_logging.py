"""The [reexec] lines: on stderr when the application configured no logging (the spec's
diagnostics), in the application's handlers (once, its format) when it did, and
silenced by one line. Each case runs in a child interpreter: logging is process-wide."""

from __future__ import annotations

from conftest import run_python

# A reexec() that logs and then fails without running anything: the program is absent
# and there is no fallback.
FAIL = """
from reexec_native import ReexecError, reexec
try:
    reexec(["absent"], executable="/nonexistent/absent-program", fallback=None, guard=None)
except ReexecError:
    print("raised", flush=True)
"""
LINE = "Fast path: /nonexistent/absent-program"


def run(setup: str, after: str = "") -> tuple[str, str]:
    result = run_python(setup + FAIL + after)
    assert result.returncode == 0, result.stderr
    assert "raised" in result.stdout
    return result.stdout, result.stderr


def test_no_logging_configured_prints_reexec_lines_on_stderr():
    _, err = run("import sys\n")
    assert f"[reexec] {LINE}" in err.splitlines()
    _, err = run("import logging\n")  # imported, not configured: the same
    assert f"[reexec] {LINE}" in err.splitlines()


def test_configured_logging_gets_the_records_once():
    _, err = run("import logging\nlogging.basicConfig(format='APP %(name)s %(levelname)s %(message)s')\n")
    lines = err.splitlines()
    assert f"APP reexec_native INFO {LINE}" in lines
    assert not any("[reexec]" in line for line in lines)
    assert sum(LINE in line for line in lines) == 1


def test_records_reach_a_handler_on_the_application_logger_tree():
    out, err = run("""
import logging, sys
class Collect(logging.Handler):
    def emit(self, record):
        print("got", record.name, record.getMessage(), flush=True)
logging.getLogger("reexec_native").addHandler(Collect())
""")
    assert f"got reexec_native {LINE}" in out.splitlines()
    assert "[reexec]" not in err


def test_logging_configured_after_the_first_line_takes_over():
    _, err = run("", after="""
import logging
logging.basicConfig(format='LATE %(message)s')
""" + FAIL)
    lines = err.splitlines()
    assert lines.count(f"[reexec] {LINE}") == 1  # before the configuration
    assert lines.count(f"LATE {LINE}") == 1      # after it, in the application's format only


def test_no_propagation_and_no_handler_of_the_application_keeps_stderr():
    _, err = run("""
import logging
logging.basicConfig(format='APP %(message)s')
logging.getLogger("reexec_native").propagate = False
""")
    assert f"[reexec] {LINE}" in err.splitlines()
    assert f"APP {LINE}" not in err


def test_silencing_is_one_line_before_or_after_the_first_line():
    for setup in ('import logging\nlogging.getLogger("reexec_native").disabled = True\n',
                  'import logging\nlogging.getLogger("reexec_native").setLevel(logging.WARNING)\n',
                  'import logging\nlogging.basicConfig()\nlogging.getLogger("reexec_native").disabled = True\n'):
        _, err = run(setup)
        assert LINE not in err, setup
    _, err = run("", after='import logging\nlogging.getLogger("reexec_native").disabled = True\n' + FAIL)
    assert err.count(LINE) == 1


def test_the_lines_cost_no_logging_import_when_the_application_has_none():
    """A cold reexec() prints the spec's lines without importing logging (nothing can
    have configured it): an audit hook reports any import of it up to the exec."""
    result = run_python("""
import sys
def hook(event, args):
    if event == "import" and args[0] == "logging":
        print("logging imported", flush=True)
sys.addaudithook(hook)
from reexec_native import reexec
reexec(["/bin/echo", "became-echo"], executable="/bin/echo", guard=None, fallback=None)
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["became-echo"]
    assert "[reexec] Fast path: /bin/echo" in result.stderr.splitlines()
    assert "[reexec] Attempting exec()..." in result.stderr.splitlines()
