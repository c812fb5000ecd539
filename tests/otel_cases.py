"""OpenTelemetry: spans and metrics of the token clients, read back with the SDK's in-memory
exporter and reader; the real reference server, a MockTransport for faults; and, in fresh
interpreters, what happens without opentelemetry and without a configured SDK.

Not collected on its own (the name): `test_telemetry.py` runs it in a pytest process of its
own, because the SDK providers set here are global to the process. Run it directly with
`pytest tests/otel_cases.py`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from readme_snippets import snippet
from screening_eagle_id import (
    AsyncTokenClient,
    ClientCredentials,
    InvalidClientError,
    RetryPolicy,
    TokenClient,
    TokenError,
)
from screening_eagle_id._telemetry import LABELS, REGISTERED_ERRORS

SPAN = "eagle-id token fetch"


class Telemetry:
    """The SDK, set up once per process (OpenTelemetry allows one global provider)."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[self.reader]))

    def finished(self, client_id: str) -> list[ReadableSpan]:
        return [
            s
            for s in self.spans.get_finished_spans()
            if s.name == SPAN and (s.attributes or {}).get("eagle_id.client_id") == client_id
        ]

    def points(self, name: str, client_id: str) -> list[Any]:
        """The data points of metric `name` for `client_id` (cumulative)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [
                            p
                            for p in metric.data.data_points
                            if p.attributes.get("eagle_id.client_id") == client_id
                        ]
        return found

    def total(self, name: str, client_id: str, attrs: dict[str, object] | None = None) -> float:
        """The sum of the metric's points for `client_id` that carry all of `attrs`."""
        return sum(
            p.value
            for p in self.points(name, client_id)
            if all(p.attributes.get(k) == v for k, v in (attrs or {}).items())
        )


_telemetry: Telemetry | None = None


@pytest.fixture(scope="module")
def otel() -> Telemetry:
    global _telemetry
    if _telemetry is None:
        _telemetry = Telemetry()
    return _telemetry


_registered = 0


@pytest.fixture
def client_id(otel: Telemetry) -> str:
    """A client id of this test alone (metrics are cumulative for the whole process)."""
    global _registered
    _registered += 1
    return f"otel-client-{_registered}"


class Endpoint:
    """A MockTransport token endpoint: 503 for the first `failures` requests, then tokens."""

    def __init__(self, failures: int = 0, lifetime: int = 1000) -> None:
        self.failures = failures
        self.lifetime = lifetime
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            self.failures -= 1
            return httpx.Response(503, json={"error": "temporarily_unavailable"})
        self.issued += 1
        body = {"access_token": f"at-{self.issued}", "token_type": "Bearer"}
        return httpx.Response(200, json={**body, "expires_in": self.lifetime})


def mock_client(endpoint: Endpoint, client_id: str, **kwargs: Any) -> TokenClient:
    return TokenClient(
        "https://id.example.com",
        ClientCredentials(client_id, "SENTINEL-otel-secret"),
        scope="inspect",
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
        sleep=lambda _: None,
        **kwargs,
    )


def test_a_fetch_is_a_span_with_its_attributes_and_no_secret(
    otel: Telemetry, reference_server: LiveServer
) -> None:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)
    otel.spans.clear()
    tracer = trace.get_tracer("test")
    with (
        tracer.start_as_current_span("caller") as parent,
        TokenClient(reference_server.url, creds, scope="openid inspect") as client,
    ):
        token = client.get_token()
    (span,) = otel.finished(reference_server.client_id)
    assert span.kind == SpanKind.CLIENT
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert dict(span.attributes or {}) == {
        "eagle_id.url": client.url,
        "eagle_id.client_id": reference_server.client_id,
        "eagle_id.scope": "openid inspect",
        "eagle_id.attempt": 1,
        "eagle_id.refresh_ahead": False,
        "eagle_id.outcome": "ok",
    }
    assert client.url == reference_server.url + "/api/id/v1/auth/token"
    assert span.status.status_code == StatusCode.UNSET
    exported = otel.spans.get_finished_spans()
    text = json.dumps([json.loads(s.to_json()) for s in exported])
    text += str(otel.reader.get_metrics_data())
    for secret in (reference_server.client_secret, token.access_token):
        assert secret not in text


def test_retries_and_failures_are_counted_and_each_try_is_a_span(
    otel: Telemetry, client_id: str
) -> None:
    with mock_client(Endpoint(failures=2), client_id) as client:
        client.get_token()
    spans = otel.finished(client_id)
    assert [s.attributes["eagle_id.attempt"] for s in spans] == [1, 2, 3]  # type: ignore[index]
    outcomes = [s.attributes["eagle_id.outcome"] for s in spans]  # type: ignore[index]
    assert outcomes == ["temporarily_unavailable", "temporarily_unavailable", "ok"]
    assert spans[0].status.status_code == StatusCode.ERROR
    assert spans[0].attributes["error.type"] == "temporarily_unavailable"  # type: ignore[index]
    assert otel.total("eagle_id.token.retries", client_id) == 2
    assert otel.total("eagle_id.token.fetches", client_id) == 3
    assert otel.total("eagle_id.token.fetches", client_id, {"eagle_id.outcome": "ok"}) == 1
    assert otel.total("eagle_id.token.failures", client_id) == 0
    (duration,) = [
        p
        for p in otel.points("eagle_id.token.fetch.duration", client_id)
        if p.attributes["eagle_id.outcome"] == "ok"
    ]
    assert duration.count == 1


def test_a_fetch_that_fails_for_good(
    otel: Telemetry, reference_server: LiveServer, client_id: str
) -> None:
    creds = ClientCredentials(client_id, "wrong-secret")
    with (
        TokenClient(reference_server.url, creds, scope="openid") as client,
        pytest.raises(InvalidClientError),
    ):
        client.get_token()
    (span,) = otel.finished(client_id)
    assert span.attributes["eagle_id.outcome"] == "invalid_client"  # type: ignore[index]
    assert span.status.status_code == StatusCode.ERROR
    assert span.events == ()  # no exception event: its text is not exported
    assert otel.total("eagle_id.token.failures", client_id, {"error.type": "invalid_client"}) == 1


class ErrorEndpoint:
    """A MockTransport token endpoint that answers `reply` (status, error code) every time."""

    def __init__(self) -> None:
        self.reply: tuple[int, object] = (400, "invalid_request")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        status, error = self.reply
        return httpx.Response(status, json={"error": error, "error_description": "x"})


def _labels(otel: Telemetry, client_id: str) -> set[object]:
    """Every value of `eagle_id.outcome` and `error.type` exported for `client_id`."""
    names = ("eagle_id.outcome", "error.type")
    values: set[object] = set()
    for span in otel.finished(client_id):
        values |= {(span.attributes or {}).get(name) for name in names}
    for metric in (
        "eagle_id.token.fetches",
        "eagle_id.token.fetch.duration",
        "eagle_id.token.failures",
    ):
        for point in otel.points(metric, client_id):
            values |= {point.attributes.get(name) for name in names}
    return values - {None}


def test_outcome_labels_stay_within_a_closed_set_whatever_the_server_says(
    otel: Telemetry,
) -> None:
    client_id = "otel-labels"
    endpoint = ErrorEndpoint()
    seen: set[object] = set()
    with mock_client(endpoint, client_id, retry=RetryPolicy(attempts=2)) as client:

        @settings(max_examples=150, deadline=None)
        @given(
            status=st.sampled_from([400, 401, 403, 404, 409, 418, 429, 500, 503, 599]),
            error=st.one_of(
                st.text(max_size=900),
                st.sampled_from(sorted(REGISTERED_ERRORS)),
                st.integers(),
                st.none(),
            ),
        )
        def fetch(status: int, error: object) -> None:
            endpoint.reply = (status, error)
            with pytest.raises(TokenError):
                client.fetch_token()
            seen.add(error)

        fetch()
    labels = _labels(otel, client_id)
    assert labels <= LABELS
    assert len(seen) > len(labels)  # many texts, few series
    assert "invalid_scope" in labels  # a registered code is kept
    assert labels & {"4xx", "InvalidRequestError", "ServerError"}  # the rest is grouped


def test_refresh_aheads_lock_waits_and_cache_hits(otel: Telemetry, client_id: str) -> None:
    clock = FakeClock()
    endpoint = Endpoint(lifetime=1000)
    with mock_client(endpoint, client_id, clock=clock, random=lambda: 0.5) as client:
        client.get_token()  # a fetch: from now on, get_token() calls are counted
        for _ in range(100):
            client.get_token()
        clock.advance(950)  # past the refresh point, before the hard expiry
        assert client.get_token().access_token == "at-2"  # refreshed ahead, by this caller
        for _ in range(10):
            client.get_token()
        assert otel.total("eagle_id.token.cache_hits", client_id) == 111
        assert otel.total("eagle_id.token.refresh_aheads", client_id) == 1
        spans = otel.finished(client_id)
        assert [s.attributes["eagle_id.refresh_ahead"] for s in spans] == [False, True]  # type: ignore[index]
        (waits,) = otel.points("eagle_id.cache.lock_wait", client_id)
        assert waits.count == 2
        clock.advance(2000)  # past the hard expiry: the caller waits for a fetch (not a hit)
        client.get_token()
        assert otel.total("eagle_id.token.cache_hits", client_id) == 111


def test_a_failed_refresh_ahead_is_counted(otel: Telemetry, client_id: str) -> None:
    clock = FakeClock()
    endpoint = Endpoint(lifetime=1000)
    with mock_client(endpoint, client_id, clock=clock, random=lambda: 0.5) as client:
        first = client.get_token()
        endpoint.failures = 1
        clock.advance(950)
        assert client.get_token() == first  # the refresh failed; the current token is served
    assert otel.total("eagle_id.token.failures", client_id, {"eagle_id.refresh_ahead": True}) == 1


def test_the_async_client(otel: Telemetry, reference_server: LiveServer) -> None:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)

    async def main() -> None:
        async with AsyncTokenClient(reference_server.url, creds, scope="email") as client:
            await client.get_token()
            for _ in range(5):
                await client.get_token()

    before = otel.total("eagle_id.token.cache_hits", reference_server.client_id)
    otel.spans.clear()
    asyncio.run(main())
    (span,) = otel.finished(reference_server.client_id)
    assert span.attributes["eagle_id.scope"] == "email"  # type: ignore[index]
    assert otel.total("eagle_id.token.cache_hits", reference_server.client_id) - before == 5


class FakeClock:
    def __init__(self) -> None:
        self.mono, self.wall = 1000.0, 1_800_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


# --- fresh interpreters --------------------------------------------------------------------

_FETCH = """
import sys
import httpx
from screening_eagle_id import ClientCredentials, TokenClient
assert "opentelemetry" not in sys.modules
def endpoint(request):
    return httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "expires_in": 99})
client = TokenClient("https://id.example.com", ClientCredentials("c", "s"), scope="x",
                     http_client=httpx.Client(transport=httpx.MockTransport(endpoint)))
client.get_token()
client.get_token()
print("opentelemetry" in sys.modules, "get_token" in vars(client))
"""


def test_without_an_sdk_the_hot_path_is_untouched() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FETCH], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "False"]  # the API is imported at the fetch; no wrapper


def test_without_opentelemetry_nothing_is_imported(tmp_path: Path) -> None:
    shadow = tmp_path / "opentelemetry"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('not installed')")
    out = subprocess.run(
        [sys.executable, "-c", _FETCH],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    ).stdout
    assert out.split() == ["False", "False"]


def test_the_readme_snippet_runs(reference_server: LiveServer, tmp_path: Path) -> None:
    script = tmp_path / "otel_snippet.py"
    prelude = (
        "from screening_eagle_id import ClientCredentials\n"
        f"url = {reference_server.url!r}\n"
        f"creds = ClientCredentials({reference_server.client_id!r}, "
        f"{reference_server.client_secret!r})\n"
    )
    script.write_text(prelude + snippet("otel"))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert f'"name": "{SPAN}"' in out
    assert '"name": "eagle_id.token.cache_hits"' in out
    assert reference_server.client_secret not in out
