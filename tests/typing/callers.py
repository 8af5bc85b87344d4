"""User-style calls of the public API, type-checked (never run) by tests/test_typing.py.

Each call is something a user writes; mypy --strict and pyright strict must accept
them all. The assert_type lines pin what the API hands back."""

from __future__ import annotations

import os
import pathlib
import socket
from collections.abc import Mapping, Sequence

from typing_extensions import assert_type

import reexec_native
from reexec_native import CargoRun, ExeHandle, listen_sockets, open_exe, reexec


class EchoFallback:
    """Not a CargoRun: anything with .run(argv, env) is a fallback."""

    def run(self, argv: Sequence[bytes], env: Mapping[bytes, bytes]) -> None:
        raise SystemExit(1)


def env_kinds(which: int) -> None:
    str_env: dict[str, str] = {"A": "b"}
    bytes_env: dict[bytes, bytes] = {b"A": b"b"}
    mixed: dict[str, str | bytes] = {"A": b"b"}
    if which == 0:
        reexec(env=dict(os.environ))
    elif which == 1:
        reexec(env={"A": "b"})
    elif which == 2:
        reexec(env=os.environ)
    elif which == 3:
        reexec(env=os.environb)
    elif which == 4:
        reexec(["prog", "--flag"], env=str_env)
    elif which == 5:
        reexec([b"prog"], env=bytes_env, fallback=None)
    else:
        reexec(env=mixed, fallback=EchoFallback())


def paths_and_handles(args: list[str]) -> None:
    reexec(args, executable=pathlib.Path("/bin/true"), cwd=pathlib.Path("/"))
    handle = open_exe(pathlib.Path("/bin/true"))
    assert_type(handle, ExeHandle)
    handle.exec(args, env=os.environ)
    open_exe("/bin/true", snapshot=True).exec(["true"], {"A": "b"})
    open_exe("/bin/true", snapshot="required").exec(["true"])
    reexec(args, snapshot="required", fallback=None)
    open_exe(b"/bin/true").exec([b"true"], {b"A": b"b"})


def cargo(args: list[str]) -> None:
    fallback = CargoRun(package="xtask", features=("crossval-all",))
    reexec(args, fallback=fallback)
    reexec(args, fallback=reexec_native.CargoRun())
    reexec(args, fallback=CargoRun(check_workspace=False))
    reexec(guard=None, fallback=None, cwd=reexec_native.start_dir())  # a server or a reloader


def sockets() -> None:
    socks = listen_sockets()
    assert_type(socks, list[socket.socket])
    fds = reexec_native.listen_fds()
    assert_type(fds, list[tuple[int, str]])
    reexec(listen_fds=socks, pass_fds=[fds[0][0]])


def errors(args: list[str]) -> None:
    """What a caller reads off the errors: os.execv's fields, the tier, the records."""
    try:
        open_exe("/bin/true").exec(args)
    except reexec_native.ExecError as exc:
        assert_type(exc.tier, str)
        assert_type(exc.attempts, tuple[reexec_native.Attempt, ...])
        for attempt in exc.attempts:
            assert_type(attempt.tier, str)
            assert_type(attempt.errno, int)
            assert_type(attempt.note, str | None)
            tier, _errno, note = attempt
            assert_type(tier, str)
            assert_type(note, str | None)
        print(exc.errno, exc.strerror, exc.filename)
    try:
        reexec(args)
    except reexec_native.VerifyError as exc:
        assert_type(exc.returncode, int | None)
    except OSError as exc:  # ReexecError is one, with the fast path's errno
        if isinstance(exc, reexec_native.ReexecError):
            cause = exc.fallback_error
            if isinstance(cause, reexec_native.FallbackError):
                assert_type(cause.stage, str)
                assert_type(cause.mode, str | None)
        print(exc.errno)
