"""`Runtime.metrics()`: served by the host on its own /metrics (here a ThreadingHTTPServer on
127.0.0.1), scraped over HTTP and read with prometheus_client's parser, checked against the usage
records of the casts that ran; and a cast joining a W3C trace."""

import http.server
import threading
import urllib.request
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import spell

from conftest import EXAMPLE_POLICY, HELLO

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def served() -> Iterator[tuple[spell.Runtime, str]]:
    """A runtime of its own, its metrics served at the returned URL."""
    runtime = spell.Runtime()

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = runtime.metrics().encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield runtime, f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_metrics_served_over_http_match_the_usage_records(served: tuple[spell.Runtime, str]) -> None:
    runtime, url = served
    hello = runtime.load(HELLO, spell.Policy.from_file(EXAMPLE_POLICY))
    usages = [hello.cast([name]).usage for name in ["a", "b", "c"]]
    with pytest.raises(spell.PolicyError):
        hello.cast(env={"NOT_GRANTED": "x"})
    samples = scrape(url)
    labels = {"spell": "hello", "version": "0.1.0"}
    assert value(samples, "faas_invocations_total", outcome="ok", **labels) == 3
    assert value(samples, "spell_fuel_sum", **labels) == sum(u.fuel or 0 for u in usages)
    assert value(samples, "spell_fuel_count", **labels) == 3
    assert value(samples, "faas_mem_usage_bytes_sum", **labels) == sum(u.memory_peak_bytes for u in usages)
    wall = sum(u.wall_ns for u in usages) / 1e9
    assert value(samples, "faas_invoke_duration_seconds_sum", **labels) == pytest.approx(wall, rel=1e-9)
    assert value(samples, "faas_invoke_duration_seconds_bucket", le="+Inf", **labels) == 3
    assert value(samples, "spell_refusals_total", code="E-POL-004", stage="cast") == 1
    assert value(samples, "spell_casts_in_flight") == 0
    assert value(samples, "spell_module_cache_misses_total") == 1


def test_a_cast_joins_the_callers_trace(hello: spell.Spell) -> None:
    outcome = hello.cast(["t"], traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01", tracestate="a=1")
    assert outcome.usage.trace_id == TRACE_ID
    assert outcome.usage.to_dict()["trace_id"] == TRACE_ID
    assert hello.cast(["u"]).usage.trace_id is None
    with pytest.raises(spell.PolicyError) as refused:
        hello.cast(traceparent="00-not-a-trace")
    assert refused.value.code == "E-POL-004"
