"""The conformance suite against servers that misbehave at the HTTP level (tiny raw-socket
servers on loopback): it stays within its timeouts and memory, and says "could not run" (2)
or "not conformant" (1) in one line, never a traceback, never the secret."""

from __future__ import annotations

import base64
import html
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hostile_server import (
    Respond,
    bomb,
    chunked_forever,
    json_response,
    raw_response,
    serve,
    stream_forever,
)
from markdown_it import MarkdownIt
from screening_eagle_id_conformance import Options, Target, main, run
from screening_eagle_id_conformance._fuzz import DEFAULT_SEED
from screening_eagle_id_conformance._http import basic_header

SECRET = "s3cr3t-Value"
Handler = Callable[[socket.socket], None]


@contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """Accept connections on a free loopback port; `handler` answers each (after its request,
    body included, is read: closing with unread bytes would reset the connection)."""
    with serve(lambda conn, _request: handler(conn)) as url:
        yield url


def _drip(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Content-Length: 100000\r\n\r\n")
    for _ in range(100):  # one byte every 0.1 s: never a read timeout, never an end
        conn.sendall(b" ")
        time.sleep(0.1)


def _huge(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Content-Length: 1000000000\r\n\r\n")
    chunk = b" " * 65536
    for _ in range(15_000):  # ~1 GB at most, while the client reads
        conn.sendall(chunk)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)


def _drip_head(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(100):  # a header line every 0.1 s: never a read timeout, never an end
        conn.sendall(b"X: y\r\n")
        time.sleep(0.1)


@pytest.mark.parametrize(
    "handler",
    [_drip, _huge, _drip_head],
    ids=["dripped body", "huge body", "head that never ends"],
)
def test_an_answer_that_never_ends_is_could_not_run_within_twice_the_timeout(
    capsys: pytest.CaptureFixture[str], handler: Handler
) -> None:
    with raw_server(handler) as url:
        started = time.monotonic()
        status = main(["--no-schemathesis", "--url", url, "--client-id", "c", "--timeout", "1"])
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert elapsed < 5, elapsed
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    assert SECRET not in out + err


def _json_reply(body: bytes) -> Handler:
    def handler(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            b"Pragma: no-cache\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )

    return handler


_DEEP = b"[" * 100_000 + b"]" * 100_000
_DEEP_JWT = b".".join(
    base64.urlsafe_b64encode(part).rstrip(b"=") for part in (b'{"alg":"HS256"}', _DEEP, b"sig")
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_DEEP, id="deeply nested body"),
        pytest.param(
            b'{"access_token":"%s","token_type":"Bearer","expires_in":60}' % _DEEP_JWT,
            id="deeply nested JWT claims",
        ),
    ],
)
def test_deeply_nested_json_is_judged_not_conformant_not_a_crash(
    capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    with raw_server(_json_reply(body)) as url:
        status = main(["--no-schemathesis", "--url", url, "--client-id", "c", "--timeout", "2"])
    out, err = capsys.readouterr()
    assert status == 1, (out, err)
    assert "Traceback" not in out + err
    assert "RecursionError" not in out + err


# -- memory: every phase's reads go through one bound ---------------------------------------

# Peak RSS of a whole suite run (schemathesis imported, every phase run) against a server that
# answers with a bomb: the suite alone is ~100 MiB; one decoded bomb would be 512 MiB or more.
RSS_BOUND_MIB = 300
CLIENT = "c"


def _token_or(hostile: Respond, secret: str = SECRET) -> Respond:
    """The configured client's plain token request gets a token, a POST without credentials a
    401 (so the suite runs every phase); everything else, from every phase, gets `hostile`."""
    authorization = basic_header(CLIENT, secret).encode()
    token = json_response(
        200,
        {"access_token": "a" * 32, "token_type": "Bearer", "expires_in": 60},
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
    refuse = json_response(401, {"error": "invalid_client"}, {"WWW-Authenticate": "Basic"})

    def respond(conn: socket.socket, request: bytes) -> None:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        auths = [
            line.partition(b":")[2].strip()
            for line in lines[1:]
            if line.lower().startswith(b"authorization:")
        ]
        if lines[0].startswith(b"POST ") and not auths:
            refuse(conn, request)
        elif (
            lines[0].startswith(b"POST ")
            and auths == [authorization]
            and body.startswith(b"grant_type=client_credentials&scope=")
        ):
            token(conn, request)
        else:
            hostile(conn, request)

    return respond


def _bomb(mib: int, codings: tuple[str, ...]) -> Respond:
    data = bomb(mib, codings)
    return raw_response(
        200, data, {"Content-Type": "application/json", "Content-Encoding": ", ".join(codings)}
    )


# The suite as `python -m` runs it, writing its own peak RSS (VmHWM: this process's peak since
# its exec) to argv[1] at exit. ru_maxrss would not do: a child starts with its parent's peak
# (the test process's, often over the bound by itself), which hides growth below it.
_PEAK_REPORTING_SUITE = """
import runpy, sys
peak_file = sys.argv.pop(1)
try:
    runpy.run_module("screening_eagle_id_conformance", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmHWM:"))
    with open(peak_file, "w") as out:
        out.write(line.split()[1])
"""


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(lambda: _bomb(512, ("gzip",)), id="gzip bomb"),
        pytest.param(lambda: _bomb(1024, ("gzip", "gzip")), id="gzip, gzip bomb"),
        pytest.param(lambda: _bomb(512, ("deflate",)), id="deflate bomb"),
        pytest.param(
            lambda: stream_forever(200, {"Content-Type": "application/json"}), id="endless body"
        ),
        pytest.param(lambda: chunked_forever(200), id="endless chunked body"),
    ],
)
def test_the_suite_stays_within_its_memory_under_every_bomb(
    tmp_path: Path, hostile: Callable[[], Respond]
) -> None:
    """Every phase (the named checks' POSTs and other methods, and schemathesis's requests)
    reads through the same bound: peak RSS of the whole run, in a child process, stays under
    RSS_BOUND_MIB."""
    env = {**os.environ, "EAGLE_ID_CLIENT_SECRET": SECRET}
    out, peak_file = tmp_path / "out.txt", tmp_path / "peak.txt"
    with serve(_token_or(hostile())) as url, out.open("wb") as sink:
        child = subprocess.Popen(
            [
                *(sys.executable, "-c", _PEAK_REPORTING_SUITE, str(peak_file), "--url", url),
                *("--client-id", CLIENT, "--timeout", "2", "--max-examples", "3"),
                *("--junit", str(tmp_path / "r.xml"), "--report-md", str(tmp_path / "r.md")),
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        killer = threading.Timer(240, child.kill)
        killer.start()
        try:
            child.wait()
        finally:
            killer.cancel()
    text = out.read_text(encoding="utf-8", errors="replace")
    peak_mib = int(peak_file.read_text()) / 1024  # VmHWM is in KiB
    assert child.returncode in (1, 2), text
    assert "Traceback" not in text, text
    assert SECRET not in text
    assert "schemathesis/run" in text, text  # every phase ran
    assert peak_mib < RSS_BOUND_MIB, (peak_mib, text[-2000:])


# -- the command line when it cannot do its job -----------------------------------------------

COMMANDS = {
    "python -m": [sys.executable, "-m", "screening_eagle_id_conformance"],
    "eagle-id": [
        *(
            sys.executable,
            "-c",
            "from screening_eagle_id._cli import main; raise SystemExit(main())",
        ),
        "conformance",
    ],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_without_the_conformance_extra_it_is_one_line_and_exit_2(
    tmp_path: Path, command: str
) -> None:
    # An installation without the extra: importing schemathesis fails.
    (tmp_path / "schemathesis.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'schemathesis'\", name='schemathesis')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [*COMMANDS[command], "--no-schemathesis"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "schemathesis missing" in lines[0]
    assert "screening-eagle-id[conformance]" in lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("args", [["--help"], ["--no-schemathesis"]], ids=["help", "a run"])
def test_a_full_stdout_is_one_line_and_exit_2(
    tmp_path: Path, command: str, args: list[str]
) -> None:
    with (
        serve(_token_or(json_response(400, {"error": "invalid_request"}))) as url,
        open("/dev/full", "w") as full,
    ):
        done = subprocess.run(
            [*COMMANDS[command], "--url", url, "--client-id", CLIENT, *args, "--junit", "r.xml"],
            cwd=tmp_path,
            env={**os.environ, "EAGLE_ID_CLIENT_SECRET": SECRET},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "conformance: cannot write to standard output: No space left on device"
    ]


# -- the schemathesis phase as a whole ----------------------------------------------------------


def _slow(conn: socket.socket, request: bytes) -> None:
    time.sleep(0.8)  # under the 1 s timeout, every time: no read ever times out
    json_response(400, {"error": "invalid_request"})(conn, request)


def test_the_schemathesis_phase_ends_at_its_budget(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(_token_or(_slow)) as url:
        started = time.monotonic()
        status = main(
            [
                *("--url", url, "--client-id", CLIENT, "--timeout", "1"),
                *("--fuzz-seconds", "3", "--max-examples", "100", "--junit", "r.xml"),
            ]
        )
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert status == 1, (out, err)
    assert "stopped at its 3 s budget" in out
    # 3 s of fuzzing (its last exchange cut at the budget) and the named checks, not the
    # hundreds of requests x 0.8 s that 100 examples per phase would take.
    assert elapsed < 60, elapsed


# -- the same server, the same verdicts ---------------------------------------------------------


def test_a_default_run_gives_the_same_verdicts_twice_and_names_its_seed() -> None:
    """schemathesis's seed is fixed by default: two runs against one server agree on every
    verdict, and every fuzz finding says which seed found it (to replay with --seed)."""
    reports = []
    with serve(_token_or(json_response(400, {"error": "invalid_request"}))) as url:
        target = Target(url=url, client_id=CLIENT, client_secret=SECRET, scope="openid", timeout=2)
        for _ in range(2):
            reports.append(run(Options(target=target, max_examples=5)))
    first, second = ({r.name: r.outcome for r in report.results} for report in reports)
    assert first == second
    assert reports[0].properties["schemathesis.seed"] == str(DEFAULT_SEED)
    fuzzed = [r for r in reports[0].results if r.name.startswith("schemathesis/") and r.curl]
    assert fuzzed, "the fuzz phase found nothing to report"
    for result in fuzzed:
        assert (
            f"schemathesis seed {DEFAULT_SEED}: --seed {DEFAULT_SEED} replays it" in result.detail
        )


# -- redaction: a server that echoes the secret in every encoding --------------------------------

ODD_SECRET = 'p@ss"w\\o/rd é+&%<€😀'


def _forms(secret: str) -> list[str]:
    """The secret as a server can echo it (see tests/test_conformance_redaction.py for the
    generated, nested version): each form is one the reports must not hold."""
    pair = f"{CLIENT}:{secret}"
    return [
        secret,
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        "".join(f"&#{ord(c)};" for c in secret),
        "".join(f"&#x{ord(c):X};" for c in secret),
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(pair.encode()).decode(),
        basic_header(CLIENT, secret).removeprefix("Basic "),
        quote(json.dumps(secret)),
    ]


def _echo(secret: str) -> Respond:
    """Every answer echoes the secret, a different encoding each time, in `error`,
    `error_description` and a header, with Markdown that would render if not quoted."""
    forms = _forms(secret)
    count = iter(range(10**9))

    def respond(conn: socket.socket, request: bytes) -> None:
        form = forms[next(count) % len(forms)]
        document = {
            "error": form,
            "error_description": f"bad secret {form} ![x](https://evil.example/x.png) <b>hi</b>",
        }
        json_response(400, document, {"X-Echo": quote(form)})(conn, request)

    return respond


def test_no_report_holds_a_secret_the_server_echoes_in_any_encoding(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", ODD_SECRET)
    with serve(_token_or(_echo(ODD_SECRET), secret=ODD_SECRET)) as url:
        status = main(
            [
                *("--url", url, "--client-id", CLIENT, "--timeout", "2", "--max-examples", "3"),
                *("--junit", "r.xml", "--report-json", "r.json", "--report-md", "r.md"),
            ]
        )
    out, err = capsys.readouterr()
    assert status == 1, (out, err)
    assert "[REDACTED]" in out  # the server's echoes were there, and are masked
    written = {
        "stdout": out + err,
        **{
            name: (tmp_path / name).read_text(encoding="utf-8")
            for name in ("r.xml", "r.json", "r.md")
        },
    }
    for where, text in written.items():
        for form in _forms(ODD_SECRET):
            assert form not in text, (where, form)
    tokens = MarkdownIt("commonmark").enable("table").parse(written["r.md"])
    every = [t for token in tokens for t in [token, *(token.children or [])]]
    assert {t.type for t in every} & {"image", "link_open"} == set()
    assert {t.content for t in every if t.type.startswith("html")} <= {"<br>"}
