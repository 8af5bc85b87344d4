"""A stdlib HTTP server that upgrades itself under load: re-exec, same PID, same socket.

    python examples/upgrade_server.py                  # demo: server + load client, prints figures
    python examples/upgrade_server.py --upgrades 20 --verify
    python examples/upgrade_server.py serve --port 8000 --upgrades 3 --every 1.0   # server only
    python examples/upgrade_server.py --upgrades 3 --build-exec tests/fixtures/cargo_ws

The server listens on 127.0.0.1 only. Every --every seconds (or on SIGHUP) it
re-executes itself through ``reexec(listen_fds=[its socket])``: the new generation
finds the socket at descriptor 3 (``listen_sockets()``), with the connections that
arrived meanwhile still in its backlog, so no client is refused. Each response says
which generation and PID answered. After --upgrades re-execs it stays up until the
client asks for /quit (or --max-seconds pass).

The demo runs the server as a child and a bounded load (--requests, --seconds, on
loopback, --clients threads, a new connection per request) and prints: requests
sent, failed (refused, reset, timed out, wrong answer), the longest stall (slowest
request), generations seen, PIDs seen. tests/test_upgrade_server.py and
benchmarks/upgrade.py run it.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

GEN_ENV = "UPGRADE_SERVER_GENERATION"
ANSWER = re.compile(rb"^gen=(\d+) pid=(\d+)\n$")


# -- the server -----------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: none is in flight at an upgrade

    def do_GET(self) -> None:
        body = f"gen={self.server.generation} pid={os.getpid()}\n".encode()
        if self.path == "/quit":
            self.server.quit = True
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _listening_socket(port: int) -> socket.socket:
    """Generation 0 binds (or takes what systemd-socket-activate handed it); later
    generations take the socket the previous one passed."""
    from reexec_native import listen_sockets

    passed = listen_sockets()
    if passed:
        return passed[0]
    return socket.create_server(("127.0.0.1", port), backlog=128)


def serve(args) -> int:
    from reexec_native import current_command, reexec

    generation = int(os.environ.get(GEN_ENV, "0"))
    sock = _listening_socket(args.port)
    server = http.server.HTTPServer(sock.getsockname()[:2], Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.timeout = 0.02
    server.generation = generation
    server.quit = False
    upgrade = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: upgrade.set())
    print(f"generation={generation} pid={os.getpid()} port={sock.getsockname()[1]}", flush=True)
    started = time.monotonic()
    while not server.quit and time.monotonic() - started < args.max_seconds:
        server.handle_request()
        due = args.every > 0 and time.monotonic() - started >= args.every
        if generation < args.upgrades and (upgrade.is_set() or due):
            env = {**os.environ, GEN_ENV: str(generation + 1)}
            verify = ["--version"] if args.verify else None
            if args.build_exec and generation + 1 == args.upgrades:
                _build_exec_upgrade(args, sock, env, generation + 1)
            reexec(current_command(), env=env, guard=None, fallback=None, listen_fds=[sock], verify=verify)
    server.server_close()
    return 0


def _build_exec_upgrade(args, sock: socket.socket, env: dict, generation: int) -> None:
    """The last upgrade goes to the cargo fixture's xtask (tests/fixtures/cargo_ws), whose
    binary is gone: build-exec rebuilds it with cargo and execs it in this process
    (same PID), handing it the socket; it serves until /quit ($XTASK_SERVE)."""
    from reexec_native import CargoRun, reexec

    env = {**env, "XTASK_SERVE": "1000000", "XTASK_SERVE_GEN": str(generation)}
    manifest = os.path.join(args.build_exec, "Cargo.toml")
    reexec(["xtask"], executable=os.path.join(args.build_exec, "gone", "xtask"), env=env, guard=None,
           retry_budget=0, listen_fds=[sock], fallback=CargoRun(mode="build-exec", manifest_path=manifest))


# -- the load client --------------------------------------------------------------

class Load:
    """Bounded load from `clients` threads: a new connection per request, until
    `requests` were sent or `seconds` passed, then /quit."""

    def __init__(self, port: int, requests: int, seconds: float, clients: int) -> None:
        self.port, self.requests, self.seconds, self.clients = port, requests, seconds, clients
        self.lock = threading.Lock()
        self.sent = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self.generations: set[int] = set()
        self.pids: set[int] = set()

    def _one(self) -> None:
        start = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            match = ANSWER.match(body) if response.status == 200 else None
            error = None if match else f"wrong answer: {response.status} {body[:80]!r}"
        except OSError as exc:  # refused, reset, timed out
            match, error = None, f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - start
        with self.lock:
            self.latencies.append(elapsed)
            if error:
                self.failures.append(error)
            else:
                self.generations.add(int(match.group(1)))
                self.pids.add(int(match.group(2)))

    def _worker(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with self.lock:
                if self.sent >= self.requests:
                    return
                self.sent += 1
            self._one()

    def run(self, until=None) -> dict:
        """Run the load; `until()` true ends it early (e.g. all generations seen)."""
        deadline = time.monotonic() + self.seconds
        threads = [threading.Thread(target=self._worker, args=(deadline,)) for _ in range(self.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if until is not None and until(self):
                with self.lock:
                    self.requests = self.sent  # stop: no new requests
            time.sleep(0.01)
        for t in threads:
            t.join()
        return {"requests_sent": self.sent, "failed": len(self.failures), "failures": self.failures[:10],
                "longest_stall_ms": round(max(self.latencies, default=0) * 1000, 1),
                "median_request_ms": round(sorted(self.latencies)[len(self.latencies) // 2] * 1000, 2)
                if self.latencies else None,
                "generations_seen": sorted(self.generations), "pids_seen": sorted(self.pids),
                "seconds": round(time.monotonic() - started, 2)}


def quit_server(port: int) -> None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/quit")
        conn.getresponse().read()
        conn.close()
    except OSError:
        pass


def demo(args) -> dict:
    """Start the server as a child, load it until every generation answered (or the
    bounds), stop it, and return the figures."""
    cmd = [sys.executable, os.path.abspath(__file__), "serve", "--port", "0", "--upgrades", str(args.upgrades),
           "--every", str(args.every), "--max-seconds", str(args.seconds + 30)]
    if args.verify:
        cmd.append("--verify")
    if args.build_exec:
        cmd += ["--build-exec", args.build_exec]
    env = {k: v for k, v in os.environ.items() if k not in (GEN_ENV, "LISTEN_FDS", "LISTEN_PID", "LISTEN_PIDFDID")}
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        first = server.stdout.readline()
        port = int(first.split("port=")[1])
        load = Load(port, args.requests, args.seconds, args.clients)
        figures = load.run(until=lambda l: len(l.generations) > args.upgrades)
        quit_server(port)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    lines = [first, *out.splitlines()]
    figures.update({
        "upgrades_asked": args.upgrades, "verify": bool(args.verify), "build_exec": bool(args.build_exec),
        "server_generations_started": len([l for l in lines if l.startswith("generation=")]),
        "server_pids": sorted({int(l.split("pid=")[1].split()[0]) for l in lines if l.startswith("generation=")}),
        "server_exit": server.returncode,
        "server_stderr_tail": err[-1500:],
    })
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=("demo", "serve"), default="demo")
    parser.add_argument("--port", type=int, default=0, help="serve: port on 127.0.0.1 (0: any)")
    parser.add_argument("--upgrades", type=int, default=5, help="re-execs before it stays (default 5)")
    parser.add_argument("--every", type=float, default=0.3, help="seconds between re-execs (0: on SIGHUP only)")
    parser.add_argument("--verify", action="store_true", help="reexec(verify=['--version']) at each upgrade")
    parser.add_argument("--build-exec", metavar="WORKSPACE",
                        help="the last upgrade is to WORKSPACE's xtask (tests/fixtures/cargo_ws) through "
                             "CargoRun(mode='build-exec'): cargo builds it, it replaces the server")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="serve: stop after this long")
    parser.add_argument("--requests", type=int, default=20000, help="demo: at most this many requests")
    parser.add_argument("--seconds", type=float, default=20.0, help="demo: at most this long")
    parser.add_argument("--clients", type=int, default=4, help="demo: client threads")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        return serve(args)
    figures = demo(args)
    print(json.dumps({k: v for k, v in figures.items() if k != "server_stderr_tail"}, indent=1))
    ok = (figures["failed"] == 0 and len(figures["pids_seen"]) == 1
          and figures["generations_seen"] == list(range(args.upgrades + 1)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
