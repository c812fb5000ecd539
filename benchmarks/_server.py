"""Section 4: the reference server's token issuance vs a bare Starlette JSON handler.

Both run under uvicorn with the reference server's own settings, 1 and 2 workers, loaded by the
same generator: `wrk` with `token_post.lua` (POST, Basic auth, form body) when it is installed,
otherwise an async httpx loader (much weaker: the report says which one ran).

Then the app alone, without uvicorn: one request driven straight through each ASGI app
in-process, and a pyinstrument profile of the reference app, to show what dominates.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from ._apps import TOKEN_PATH, bare_app
from ._harness import (
    Check,
    Section,
    fmt_ns,
    fmt_ratio,
    percentile,
    progress,
    ratio,
    time_async_interleaved,
)
from ._oidc import ensure_oidc_provider, oidc_provider_command
from ._procs import Processes, free_port

__all__ = ["bench_server"]

SCOPE = "openid email profile inspect"
BODY = "grant_type=client_credentials&scope=openid%20email%20profile%20inspect"
AUTHORIZATION = "Basic " + base64.b64encode(b"demo-client:demo-secret").decode()
LUA = Path(__file__).with_name("token_post.lua")
MIN_SHARE = 0.85  # the target: ≥ 85 % of the bare handler's requests/s
WARMUP_S = 1.0
OIDC_WARMUP_S = 5.0
CONNECTIONS = 32
_PROFILE_LINES = 70
# screening_eagle_id_server._middleware.ACCESS_LOGGER
_ACCESS_LOGGER = "screening_eagle_id_server.access"


@dataclass
class Load:
    """One load run's outcome."""

    rps: float
    p50_us: float
    p99_us: float
    requests: int
    bad: int  # non-2xx answers plus socket errors: a fast error must not count as throughput


def _wrk(url: str, seconds: float) -> Load:
    wrk = shutil.which("wrk")
    assert wrk is not None
    out = subprocess.run(
        [
            wrk,
            "-t1",  # one loader thread: on 2 cores the servers need the rest
            f"-c{CONNECTIONS}",
            f"-d{seconds:.0f}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            url + TOKEN_PATH,
        ],
        env={**os.environ, "BENCH_BODY": BODY, "BENCH_AUTHORIZATION": AUTHORIZATION},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    match = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no BENCH line:\n{out}")
    fields = {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    return Load(
        rps=fields["requests"] / (fields["duration_us"] / 1e6),
        p50_us=fields["p50_us"],
        p99_us=fields["p99_us"],
        requests=fields["requests"],
        bad=fields["status_errors"] + fields["socket_errors"],
    )


class _HttpxLoader:
    """The fallback loader: httpx.AsyncClient workers on one long-lived event loop, one
    client (and its warm keep-alive connections) per server, so each slice measures requests,
    not connection set-up. Far weaker than wrk: it shares the CPUs with the servers."""

    # Fewer connections than wrk: a Python loader saturates itself long before 32 pay off.
    connections = 8

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._clients: dict[str, httpx.AsyncClient] = {}

    def __call__(self, url: str, seconds: float) -> Load:
        return self._loop.run_until_complete(self._load(url, seconds))

    async def _load(self, url: str, seconds: float) -> Load:
        client = self._clients.get(url)
        if client is None:
            limits = httpx.Limits(
                max_connections=self.connections, max_keepalive_connections=self.connections
            )
            client = self._clients[url] = httpx.AsyncClient(base_url=url, limits=limits, timeout=5)
        headers = {"Authorization": AUTHORIZATION, "Content-Type": _FORM_TYPE}
        latencies: list[float] = []
        bad = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal bad
            while time.perf_counter() < deadline:
                t0 = time.perf_counter_ns()
                try:
                    response = await client.post(TOKEN_PATH, content=BODY, headers=headers)
                    ok = response.is_success
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter_ns() - t0) / 1000)
                bad += not ok

        await asyncio.gather(*(worker() for _ in range(self.connections)))
        elapsed = time.perf_counter() - start
        return Load(
            rps=len(latencies) / elapsed,
            p50_us=percentile(latencies, 50),
            p99_us=percentile(latencies, 99),
            requests=len(latencies),
            bad=bad,
        )

    def close(self) -> None:
        """Close every client and the loop."""
        for client in self._clients.values():
            self._loop.run_until_complete(client.aclose())
        self._loop.close()


def _wrk_load(url: str, seconds: float) -> Load:
    return _wrk(url, seconds)


_FORM_TYPE = "application/x-www-form-urlencoded"


@contextlib.contextmanager
def _loader() -> Iterator[tuple[str, Callable[[str, float], Load]]]:
    wanted = os.environ.get("BENCH_LOADER", "wrk")
    if wanted == "wrk" and shutil.which("wrk"):
        yield f"wrk (1 thread, {CONNECTIONS} connections, POST script)", _wrk_load
        return
    if wanted == "wrk":
        progress(
            "server: wrk is not installed (apt-get install wrk, brew install wrk): the weaker "
            "built-in loader runs instead, and the server targets are not judged"
        )
    loader = _HttpxLoader()
    try:
        yield (
            f"async httpx loader in the runner, {loader.connections} connections ("
            + ("wrk absent: " if wanted == "wrk" else "BENCH_LOADER=httpx: ")
            + "`apt-get install wrk` for a loader that does not compete with the servers)",
            loader,
        )
    finally:
        loader.close()


BARE = "bare"
REFERENCE = "reference"
REFERENCE_QUIET = "reference, access log off"
REFERENCE_UVICORN = "reference, uvicorn's own httptools (no limits, no TCP_NODELAY)"
REFERENCE_H11 = "reference, h11 + asyncio (the previous stack)"
OIDC = "oidc-provider (Node, opaque tokens)"
MAX_LOG_COST = 0.05  # the access log may cost at most 5 % of throughput
MIN_VS_OIDC = 1.2  # ≥ 1.2x oidc-provider's issuance rate, one process each


def _start(procs: Processes, kind: str, workers: int, oidc: Path | None) -> Any:
    port = free_port()
    if kind == OIDC:
        assert oidc is not None
        program, args, env = oidc_provider_command(oidc, port)
        return procs.start(
            f"oidc-{workers}w",
            args,
            port,
            env=env,
            ready_path="/.well-known/openid-configuration",
            program=program,
        )
    args = {
        BARE: ["-m", "benchmarks._serve", "bare"],
        # The reference server exactly as shipped: its own command line.
        REFERENCE: ["-m", "screening_eagle_id_server", "--dev"],
        REFERENCE_UVICORN: ["-m", "benchmarks._serve", "reference", "--stack", "uvicorn-httptools"],
        REFERENCE_H11: ["-m", "benchmarks._serve", "reference", "--stack", "h11-asyncio"],
        REFERENCE_QUIET: ["-m", "benchmarks._serve", "reference-no-access-log"],
    }[kind]
    return procs.start(
        re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")[:48] + f"-{workers}w",
        [*args, "--port", str(port), "--workers", str(workers)],
        port,
    )


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a process and its descendants so far (Linux), else None."""
    try:
        total = 0
        pending = [pid]
        while pending:
            current = pending.pop()
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pending.extend(int(child) for child in children)
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _check(
    name: str, target: str, value: float, goal: float, bad: int, judged: bool, shown: str
) -> Check:
    measured = shown + (f" ({bad} bad answers)" if bad else "")
    if not judged:
        return Check(name, target, f"{measured} (loader-bound: not judged)", None)
    return Check(name, target, measured, value >= goal and bad == 0)


def paired_share(subject: list[Load], baseline: list[Load]) -> float:
    """Median over rounds of subject ÷ baseline requests/s, slices of the same round paired."""
    return statistics.median(ratio(s.rps, b.rps) for s, b in zip(subject, baseline, strict=True))


def _combine(slices: list[Load]) -> Load:
    """Interleaved 1-second slices of one server: total throughput, median percentiles."""
    return Load(
        rps=sum(s.requests for s in slices) / sum(s.requests / s.rps for s in slices if s.rps),
        p50_us=statistics.median(s.p50_us for s in slices),
        p99_us=statistics.median(s.p99_us for s in slices),
        requests=sum(s.requests for s in slices),
        bad=sum(s.bad for s in slices),
    )


def bench_server(procs: Processes, seconds: float) -> Section:
    """Section 4: requests/s and p99 of token issuance vs the bare handler and oidc-provider;
    then the profile."""
    with _loader() as (loader_name, load):
        return _bench_server(procs, seconds, loader_name, load)


def _bench_server(
    procs: Processes, seconds: float, loader_name: str, load: Callable[[str, float], Load]
) -> Section:
    section = Section(
        "4. Reference server: token issuance vs a bare Starlette JSON handler and oidc-provider",
        [
            "server",
            "workers",
            "requests/s",
            "vs bare",
            "CPU/request",
            "p50",
            "p99",
            "p99 vs bare",
            "bad",
        ],
    )
    slices = max(1, round(seconds))
    oidc, oidc_note = ensure_oidc_provider()
    section.notes.append(
        f"Load generator: {loader_name}; the servers of one worker "
        f"count run side by side and are loaded in turn, {slices} x 1 s each, after a "
        f"{WARMUP_S:.0f} s warm-up ({OIDC_WARMUP_S:.0f} s for Node); requests/s is over all "
        "slices, `vs bare` the median of the "
        "ratios within each round (drift cancels), p50/p99 medians over the slices; CPU/request "
        "is the server's CPU time (all its processes) over its requests, which the other "
        "load on a shared machine disturbs less than requests/s. "
        f"Body `{BODY}`, demo client's Basic header. All on the shipped stack: uvicorn, "
        "httptools with the server's connection limits and TCP_NODELAY, uvloop."
    )
    section.notes.append(
        f"oidc-provider: {oidc_note}. It answers the same request with one opaque access token "
        "(no ID token: its client-credentials grant issues none), kept in its in-memory store; "
        "the reference server signs two JWTs (access and ID token) for it."
    )
    results: dict[tuple[str, int], Load] = {}
    shares: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    wrk_ran = loader_name.startswith("wrk")
    for workers in (1, 2):
        if workers == 1:
            kinds = [BARE, REFERENCE, REFERENCE_QUIET, REFERENCE_UVICORN, REFERENCE_H11]
            kinds += [OIDC] if oidc is not None else []
        else:
            kinds = [BARE, REFERENCE, REFERENCE_UVICORN]
        progress(f"server: {workers} worker(s): {', '.join(kinds)}; {slices} slices each")
        servers: dict[str, Any] = {}
        try:
            for kind in kinds:
                try:
                    servers[kind] = _start(procs, kind, workers, oidc)
                except RuntimeError as exc:
                    if kind != OIDC:
                        raise
                    section.notes.append(f"oidc-provider skipped: it did not start: {exc}")
            for kind, server in servers.items():
                # Node compiles its hot paths as it runs: give it the longer warm-up.
                load(server.url, OIDC_WARMUP_S if kind == OIDC else WARMUP_S)
            runs: dict[str, list[Load]] = {kind: [] for kind in servers}
            spent: dict[str, float] = dict.fromkeys(servers, 0.0)
            for _ in range(slices):
                for kind, server in servers.items():
                    before = _cpu_seconds(server.proc.pid)
                    runs[kind].append(load(server.url, 1.0))
                    after = _cpu_seconds(server.proc.pid)
                    if before is not None and after is not None:
                        spent[kind] += after - before
        finally:
            for server in servers.values():
                procs.stop(server)
        loads = {kind: _combine(r) for kind, r in runs.items()}
        base = loads[BARE]
        for kind, result in loads.items():
            key = (kind, workers)
            results[key] = result
            shares[key] = paired_share(runs[kind], runs[BARE])
            if spent[kind] and result.requests:
                cpu[key] = spent[kind] / result.requests
            section.rows.append(
                [
                    kind,
                    "1 process" if kind == OIDC else str(workers),
                    f"{result.rps:,.0f}",
                    fmt_ratio(shares[key]),
                    fmt_ns(cpu[key] * 1e9) if key in cpu else "-",
                    fmt_ns(result.p50_us * 1000),
                    fmt_ns(result.p99_us * 1000),
                    fmt_ratio(ratio(result.p99_us, base.p99_us)),
                    str(result.bad),
                ]
            )
        share = shares[(REFERENCE, workers)]
        section.checks.append(
            _check(
                f"server throughput, {workers} worker(s)",
                f"≥ {MIN_SHARE:.0%} of bare",
                share,
                MIN_SHARE,
                loads[REFERENCE].bad,
                wrk_ran,
                f"{share:.1%}",
            )
        )
        if workers == 1:
            kept = paired_share(runs[REFERENCE], runs[REFERENCE_QUIET])
            section.checks.append(
                _check(
                    "access log cost, 1 worker",
                    f"≤ {MAX_LOG_COST:.0%} of throughput",
                    kept,
                    1 - MAX_LOG_COST,
                    loads[REFERENCE].bad,
                    wrk_ran,
                    f"{1 - kept:+.1%}",
                )
            )
            if OIDC in runs:
                versus = paired_share(runs[REFERENCE], runs[OIDC])
                section.checks.append(
                    _check(
                        "vs oidc-provider, one process each",
                        f"≥ {MIN_VS_OIDC:.1f}x its tokens/s",
                        versus,
                        MIN_VS_OIDC,
                        loads[REFERENCE].bad + loads[OIDC].bad,
                        wrk_ran,
                        fmt_ratio(versus),
                    )
                )
            else:
                section.checks.append(
                    Check("vs oidc-provider, one process each", "≥ 1.2x", oidc_note, None)
                )
    _stack_notes(section, results, shares, cpu)
    summary, section.profile = _profile_live(procs, load, min(seconds, 4.0))
    if summary:
        section.notes.append(
            f"Where the live reference server's time goes (1 worker, pyinstrument self time by "
            f"package, start-up and idle included): {summary}."
        )
    _app_only(section)
    return section


def _stack_notes(
    section: Section,
    results: dict[tuple[str, int], Load],
    shares: dict[tuple[str, int], float],
    cpu: dict[tuple[str, int], float],
) -> None:
    def versus(kind: str, other: str, workers: int) -> str:
        share = ratio(shares[(kind, workers)], shares[(other, workers)])
        text = f"{fmt_ratio(share)} the requests/s"
        if (kind, workers) in cpu and (other, workers) in cpu:
            text += f", {fmt_ratio(ratio(cpu[(kind, workers)], cpu[(other, workers)]))} the CPU"
        return text

    if (REFERENCE_H11, 1) in results:
        section.notes.append(
            f"The stack, 1 worker: the shipped server does {versus(REFERENCE, REFERENCE_H11, 1)}"
            f" per request of the same app on uvicorn's h11 + asyncio (the previous stack)."
        )
    if (REFERENCE_UVICORN, 1) in results:
        section.notes.append(
            f"The connection limits, 1 worker: {versus(REFERENCE, REFERENCE_UVICORN, 1)} per "
            "request of the same app on uvicorn's own httptools protocol, which has none of "
            "them (header and body timers, head limits, the connection cap)."
        )
    if (REFERENCE_UVICORN, 2) in results:
        section.notes.append(
            f"The connection limits, 2 workers: {versus(REFERENCE, REFERENCE_UVICORN, 2)}. "
            "On uvloop TCP_NODELAY is on either way (uvloop sets it on every TCP connection); "
            "the server also sets it itself for the asyncio loop, which leaves it off when "
            "uvicorn's `--workers N` binds the socket (uvicorn issue #3149)."
        )


def _profile_live(
    procs: Processes, load: Callable[[str, float], Load], seconds: float
) -> tuple[str, str]:
    """The reference server itself (1 worker) under pyinstrument while the loader runs:
    self time per function, as a share of the whole process (start-up and idle included)."""
    progress(f"server: reference under pyinstrument, 1 worker, {seconds:.0f} s of load")
    out = procs.logdir / "reference-profile.txt"
    port = free_port()
    args = [
        *("-m", "pyinstrument", "--interval", "0.0005", "-r", "text"),
        *("-p", "flat", "-p", "time=percent_of_total", "-o", str(out)),
        *("-m", "screening_eagle_id_server", "--dev", "--port", str(port), "--workers", "1"),
    ]
    server = procs.start("reference-profiled", args, port)
    try:
        load(server.url, seconds)
    finally:
        procs.stop(server)  # SIGINT: uvicorn shuts down, then pyinstrument writes the profile
    try:
        lines = [line for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        return "", f"(no live profile: {exc})"
    # Drop the banner: keep the header lines that say what ran, then the top functions.
    body = [line for line in lines if _FLAT_LINE.match(line)]
    head = [line.strip() for line in lines if line.strip().startswith(("Recorded", "Program"))]
    shares = by_package(body)
    summary = ", ".join(f"{name} {share:.0f} %" for name, share in shares[:8])
    return summary, "\n".join(
        [
            "Live server, 1 worker, under load — self time, % of the whole process:",
            *head,
            f"By package: {summary}",
            *body[: _PROFILE_LINES // 2],
        ]
    )


_FLAT_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s+(\S+)")


def by_package(flat_lines: list[str]) -> list[tuple[str, float]]:
    """Sum pyinstrument's flat self-time lines by top-level package, largest first.

    `epoll.poll` is waiting for the network (idle), reported apart from other C code.
    """
    totals: dict[str, float] = {}
    for line in flat_lines:
        match = _FLAT_LINE.match(line)
        if match is None:
            continue
        share, function, where = float(match[1]), match[2], match[3]
        if where == "<built-in>":
            name = "idle (epoll)" if function == "epoll.poll" else "C built-ins (socket I/O...)"
        else:
            name = where.split("/", 1)[0].split(":", 1)[0].removesuffix(".py")
        totals[name] = totals.get(name, 0.0) + share
    return sorted(totals.items(), key=lambda item: -item[1])


# --- the app alone, in-process ----------------------------------------------------------------


def _scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN_PATH,
        "raw_path": TOKEN_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"authorization", AUTHORIZATION.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _drive(app: Any, body: bytes) -> int:
    """One request straight through an ASGI app; returns the status."""
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(body), receive, send)
    return status


def _reference_app() -> Any:
    """The reference app as `python -m screening_eagle_id_server --dev` builds it, with its
    access log going where it goes there (a stream handler) — here, to /dev/null."""
    from screening_eagle_id_server import Settings, create_app

    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives with the process
    try:
        from screening_eagle_id_server import _cli

        with contextlib.redirect_stderr(devnull):
            _cli._configure_logging()  # binds its handler to sys.stderr, i.e. devnull
    except (ImportError, AttributeError):
        pass
    return create_app(Settings.dev())


def _app_only(section: Section) -> None:
    body = BODY.encode()
    try:
        ref_app = _reference_app()
    except ImportError as exc:
        section.notes.append(f"in-process profile skipped: {exc}")
        return
    for name, app in (("bare", bare_app), ("reference", ref_app)):
        status = asyncio.run(_drive(app, body))
        if status != 200:
            section.notes.append(f"in-process {name} app answered {status}, not 200")
            return
    progress("server: both apps in-process (no uvicorn), interleaved")
    access_log = logging.getLogger(_ACCESS_LOGGER)

    async def reference_without_access_log() -> int:
        access_log.disabled = True
        try:
            return await _drive(ref_app, body)
        finally:
            access_log.disabled = False

    subjects: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("bare", partial(_drive, bare_app, body)),
        ("reference", partial(_drive, ref_app, body)),
        ("reference, access log off", reference_without_access_log),
    ]
    timings = {t.name: t.best_ns for t in time_async_interleaved(subjects, rounds=5)}
    bare_ns, ref_ns = timings["bare"], timings["reference"]
    quiet_ns = timings["reference, access log off"]
    section.notes.append(
        f"The app alone, driven in-process without uvicorn (what each app adds on top of the "
        f"same server stack): bare {fmt_ns(bare_ns)}, reference {fmt_ns(ref_ns)} "
        f"({fmt_ratio(ratio(ref_ns, bare_ns))}), reference without its access-log line "
        f"{fmt_ns(quiet_ns)} ({fmt_ratio(ratio(quiet_ns, bare_ns))}): the log line costs the "
        f"request path {fmt_ns(max(0.0, ref_ns - quiet_ns))} (0 when within the noise; it is "
        "formatted and written by the writer thread)."
    )
    tree = _profile(ref_app, body)
    if tree:
        section.profile = "\n\n".join(
            [section.profile or "", "The reference app alone, in-process — call tree:", tree]
        ).strip()


def _profile(app: Any, body: bytes, seconds: float = 2.0) -> str | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    progress(f"server: pyinstrument profile of the reference app ({seconds:.0f} s)")

    async def loop() -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for _ in range(100):
                await _drive(app, body)

    profiler = Profiler(interval=0.0001, async_mode="disabled")
    profiler.start()
    asyncio.run(loop())
    profiler.stop()
    text = profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > _PROFILE_LINES:
        lines = [*lines[:_PROFILE_LINES], f"... ({len(lines) - _PROFILE_LINES} more lines)"]
    return "\n".join(lines)
