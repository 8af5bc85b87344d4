"""Nothing flushed is lost: stdout a non-blocking pipe that is full at the exec.

Before the fix the flush before exec swallowed the would-block error and exec'd: the
text still in Python's buffers was gone without a word. Now the flush waits for the
reader (poll) and writes every byte before exec, or, when the reader takes nothing
for $REEXEC_NATIVE_FLUSH_TIMEOUT seconds, raises FlushError naming the stream before
the point of no return: the old process carries on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from conftest import PYTHON, child_env, parse_report

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a non-blocking pipe as stdout, /proc")

# The child fills its stdout pipe to the brim with raw writes (nothing of Python's
# buffered), then prints text that stays in Python's buffers, and re-execs.
FILL_THEN_REEXEC = """
import os, sys
import reexec_native
from reexec_native import reexec
FlushError = getattr(reexec_native, "FlushError", ())  # () before 0.3: catches nothing
os.set_blocking(1, False)
filled = 0
while True:
    try:
        filled += os.write(1, b"." * 4096)
    except BlockingIOError:
        break
sys.stderr.write("filled=%d\\n" % filled)
sys.stderr.flush()
sys.stdout.write(TEXT)  # buffered: the pipe has no room
try:
    reexec([REPORT, "after"], executable=REPORT, fallback=None)
except FlushError as exc:
    sys.stderr.write("carried on: %s stream=%s fd=%s errno=%s\\n" % (exc, exc.stream, exc.fd, exc.errno))
    sys.stderr.flush()
    os._exit(3)  # not sys.exit: its flush of the still full stdout would fail
"""

# Below the text layer's 8 KiB chunk (kept in TextIOWrapper) yet above a pipe's 4 KiB
# buffer: io drops what its buffer cannot take if that write meets a full pipe.
TEXT = "".join(f"line {i:04d} of the text Python still buffers\n" for i in range(130))


def start(report_prog, **env) -> subprocess.Popen:
    code = textwrap.dedent(FILL_THEN_REEXEC).replace("TEXT", repr(TEXT)).replace("REPORT", repr(str(report_prog)))
    return subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(**env))


def wait_for_fill(proc) -> int:
    line = proc.stderr.readline().decode()
    assert line.startswith("filled="), line
    return int(line.split("=")[1])


def test_a_slow_reader_gets_every_byte_before_the_exec(report_prog):
    assert 4096 < len(TEXT) < 8192
    proc = start(report_prog)
    filled = wait_for_fill(proc)
    time.sleep(1.0)  # a slow reader: the child is at its exec now, with the pipe full
    out = b""
    while chunk := proc.stdout.read1(512):  # then small reads (the new program shares the
        out += chunk                         # non-blocking pipe: it must find room)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert out[:filled] == b"." * filled
    text, _, rest = out[filled:].decode().partition("report pid=")
    assert text == TEXT, err  # every byte, in order, before the new program's output
    assert parse_report("report pid=" + rest)["argv"] == [str(report_prog).encode(), b"after"]


def test_a_reader_that_never_reads_gets_a_clear_error_and_the_process_survives(report_prog):
    proc = start(report_prog, REEXEC_NATIVE_FLUSH_TIMEOUT="0.5")
    filled = wait_for_fill(proc)
    started = time.monotonic()
    while proc.poll() is None:  # read stderr only: stdout stays full
        time.sleep(0.05)
        assert time.monotonic() - started < 60
    err = proc.stderr.read().decode()
    assert proc.returncode == 3, err
    assert "carried on: Python's buffered stdout (fd 1) could not be written" in err
    assert "stream=stdout fd=1 errno=11" in err
    assert "took nothing for 0.5 s" in err
    out = proc.stdout.read()
    assert b"report pid=" not in out  # nothing was exec'd
    assert out[:filled] == b"." * filled
