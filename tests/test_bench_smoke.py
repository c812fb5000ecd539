"""The benchmark harness computes and reports ratios correctly (`make bench` is not run here).

Tiny, fixed inputs only: nothing here asserts how long anything takes.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    # benchmarks/ is not an installed package: it runs from the checkout (`python -m benchmarks`).
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module(name)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "benchmarks._harness")


@pytest.fixture
def lookup(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "benchmarks._lookup")


def test_ratio_and_its_format(harness: ModuleType) -> None:
    assert harness.ratio(250.0, 100.0) == 2.5
    assert harness.fmt_ratio(harness.ratio(250.0, 100.0)) == "2.50x"
    assert harness.fmt_ratio(harness.ratio(4_500.0, 162.0)) == "27.8x"
    assert harness.fmt_ratio(harness.ratio(61_200.0, 54.0)) == "1,133x"
    assert math.isinf(harness.ratio(1.0, 0.0))
    assert harness.fmt_ratio(harness.ratio(1.0, 0.0)) == "inf"


def test_percentile_is_nearest_rank(harness: ModuleType) -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert harness.percentile(values, 50) == 50.0
    assert harness.percentile(values, 99) == 99.0
    assert harness.percentile(values, 100) == 100.0
    assert harness.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        harness.percentile([], 50)


def test_timing_takes_the_best_and_the_median(harness: ModuleType) -> None:
    timing = harness.Timing("x", (300.0, 100.0, 200.0, 900.0))
    assert timing.best_ns == 100.0
    assert timing.median_ns == 250.0
    assert harness.Timing("y", (3.0, 1.0, 2.0)).median_ns == 2.0


def test_time_interleaved_samples_every_subject_every_round(harness: ModuleType) -> None:
    calls = {"a": 0, "b": 0}

    def a() -> None:
        calls["a"] += 1

    def b() -> None:
        calls["b"] += 1

    timings = harness.time_interleaved([("a", a), ("b", b)], rounds=2)
    assert [t.name for t in timings] == ["a", "b"]
    assert all(len(t.samples_ns) == 2 for t in timings)
    assert calls["a"] > 2
    assert calls["b"] > 2


def test_lookup_targets_are_judged_on_the_ratios(lookup: ModuleType, harness: ModuleType) -> None:
    def timings(ours: float) -> dict[str, object]:
        return {
            lookup.FLOOR: harness.Timing(lookup.FLOOR, (100.0, 200.0)),
            lookup.OURS: harness.Timing(lookup.OURS, (ours, 2 * ours)),
            lookup.HTTPX_AUTH: harness.Timing(lookup.HTTPX_AUTH, (5_000.0, 10_000.0)),
        }

    met = lookup._lookup_checks(timings(240.0), "sync")
    assert [(c.measured, c.verdict) for c in met] == [
        ("2.40x", "MET"),
        ("20.8x faster", "MET"),
    ]
    missed = lookup._lookup_checks(timings(260.0), "sync")
    assert [c.verdict for c in missed] == ["MISSED", "MISSED"]
    floor_only = {lookup.FLOOR: harness.Timing(lookup.FLOOR, (100.0,))}
    assert [c.verdict for c in lookup._lookup_checks(floor_only, "sync")] == ["n/a"]


def test_lookup_rows_divide_by_the_floor(lookup: ModuleType, harness: ModuleType) -> None:
    timings = [
        harness.Timing(lookup.FLOOR, (150.0, 160.0)),
        harness.Timing(lookup.OURS, (300.0, 320.0)),
        harness.Timing(lookup.HTTPX_AUTH, (6_000.0, 6_400.0)),
    ]
    rows, by_name = lookup._lookup_rows(timings, "")
    assert by_name[lookup.OURS].best_ns == 300.0
    assert [row[3] for row in rows] == ["1.00x", "2.00x", "40.0x"]
    assert [row[4] for row in rows] == ["40.0x", "20.0x", "1.00x"]


def test_overhead_is_the_median_ratio_within_rounds(
    lookup: ModuleType, harness: ModuleType
) -> None:
    # Round 2 ran on a slower machine for everyone: within-round ratios cancel that drift.
    section = harness.Section("t", ["client", "per request", "vs static header", "overhead"])
    timings = [
        harness.Timing(lookup.STATIC, (100_000.0, 200_000.0, 110_000.0)),
        harness.Timing(f"{lookup.OURS} BearerAuth", (104_000.0, 206_000.0, 115_500.0)),
        harness.Timing(lookup.AUTHLIB, (137_000.0, 274_000.0, 150_700.0)),
    ]
    lookup._overhead_rows(section, timings, "")
    assert [row[1] for row in section.rows] == ["100.0 µs", "104.0 µs", "137.0 µs"]
    assert [row[3] for row in section.rows] == ["+0.0 %", "+4.0 %", "+37.0 %"]
    assert [(c.measured, c.verdict) for c in section.checks] == [("+4.0 %", "MET")]
    assert harness.paired_ratio(timings[1], timings[0]) == pytest.approx(1.04)


def test_a_capped_storm_reports_bounds_not_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    storm = _load(monkeypatch, "benchmarks._storm")
    result = storm.StormResult(
        requests=95,
        waits_ns=[50e6 * i for i in range(1, 101)],
        errors=0,
        unfinished=900,
        capped=True,
    )
    row = storm._row("lib", "threads", result, latency_ns=50e6, size=1000)
    assert row[2] == f"95 (capped at {storm.CAP_S:.0f} s, then drained)"
    assert row[3].endswith("(capped)")  # only 10 % finished: the median is not known
    assert row[5] == "900"
    done = storm.StormResult(
        requests=1, waits_ns=[50e6, 100e6], errors=0, unfinished=0, capped=False
    )
    assert storm._row("lib", "tasks", done, latency_ns=50e6, size=2)[3] == "50.0 ms (1.00x)"


def test_tables_and_markdown(harness: ModuleType) -> None:
    text = harness.text_table(["name", "value"], [["a", "1.00x"], ["long name", "12.5x"]])
    lines = text.splitlines()
    assert lines[0].startswith("name")
    assert lines[2].endswith(" 1.00x")
    assert lines[3].endswith("12.5x")
    assert len({len(line) for line in lines[1:]}) == 1  # right-aligned to one width
    with pytest.raises(ValueError, match="cells"):
        harness.text_table(["a", "b"], [["only one"]])
    section = harness.Section(
        "S", ["a|b", "c"], [["x", "y"]], [harness.Check("t", "≤ 2.5x", "3.00x", False)]
    )
    md = harness.render_markdown([section], [("python", "3.11")])
    assert "| a\\|b | c |" in md
    assert "| t | ≤ 2.5x | 3.00x | MISSED |" in md
    assert "| python | 3.11 |" in md


def test_profile_shares_are_summed_by_package(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _load(monkeypatch, "benchmarks._server")
    flat = [
        "30.4% epoll.poll  <built-in>",
        "8.9% socket.send  <built-in>",
        "4.7% [self]  uvicorn/protocols/http/h11_impl.py",
        "3.0% Connection._process_event  h11/_connection.py:272",
        "2.8% Connection.send_with_data_passthrough  h11/_connection.py:544",
        "1.3% Formatter.format  logging/__init__.py:674",
        "Program: not a profile line",
    ]
    shares = dict(server.by_package(flat))
    assert shares["idle (epoll)"] == pytest.approx(30.4)
    assert shares["h11"] == pytest.approx(5.8)
    assert shares["uvicorn"] == pytest.approx(4.7)
    assert shares["logging"] == pytest.approx(1.3)
    assert list(shares)[:2] == ["idle (epoll)", "C built-ins (socket I/O...)"]


def test_throughput_share_is_judged_only_when_it_measures_the_apps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _load(monkeypatch, "benchmarks._server")

    def load(rps: float) -> object:
        return server.Load(rps=rps, p50_us=10_000, p99_us=20_000, requests=int(rps), bad=0)

    # Round 2 is slower for both servers: the paired share is still the ratio within rounds.
    bare = [load(3000.0), load(1500.0), load(3000.0)]
    ref = [load(1900.0), load(960.0), load(1800.0)]
    share = server.paired_share(ref, bare)
    assert share == pytest.approx(1900 / 3000)

    def check(value: float, bad: int = 0, judged: bool = True) -> object:
        return server._check("t", "≥ 85% of bare", value, 0.85, bad, judged, f"{value:.1%}")

    met = check(0.863)
    assert (met.measured, met.verdict) == ("86.3%", "MET")
    missed = check(0.849)
    assert (missed.measured, missed.verdict) == ("84.9%", "MISSED")
    assert check(0.97, bad=3).verdict == "MISSED"  # errors never count
    unjudged = check(0.986, judged=False)
    assert (unjudged.measured, unjudged.verdict) == ("98.6% (loader-bound: not judged)", "n/a")


def test_oidc_provider_is_skipped_with_a_reason_without_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oidc = _load(monkeypatch, "benchmarks._oidc")
    monkeypatch.setattr(oidc.shutil, "which", lambda name: None)
    folder, note = oidc.ensure_oidc_provider()
    assert folder is None
    assert note.startswith("skipped: `node` and `npm` are needed")


def test_the_import_target_is_judged_against_import_httpx_in_the_same_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = _load(monkeypatch, "benchmarks._cli")
    harness = _load(monkeypatch, "benchmarks._harness")

    def checks(client: tuple[float, ...]) -> dict[str, object]:
        by_name = {
            cli.IMPORT_HTTPX: harness.Timing(cli.IMPORT_HTTPX, (100.0, 200.0, 100.0)),
            cli.IMPORT_CLIENT: harness.Timing(cli.IMPORT_CLIENT, client),
        }
        return {check.name: check.met for check in cli.cli_checks(by_name)}

    # Paired per round: the slow second round (the machine, not us) cancels out.
    assert checks((110.0, 230.0, 115.0)) == {
        "cached eagle-id token": None,
        "import TokenClient, BearerAuth": True,
    }
    assert checks((130.0, 200.0, 130.0))["import TokenClient, BearerAuth"] is False
