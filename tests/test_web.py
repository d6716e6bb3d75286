"""The web page of `nextterm serve` over HTTP (no browser): the page and its files, `/v1/page`
answers and errors, the API key, the view of candidates, and the benchmark numbers it shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nextterm.candidates import Candidate
from nextterm.sequences import SequenceError, parse_terms
from nextterm.serve.config import ServeConfig
from nextterm.serve.web import numbers
from nextterm.serve.web.page import render_page
from nextterm.serve.web.view import page_answer
from web_helpers import HOSTILE_NAME, hostile, page_app, tiny_engine

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return tiny_engine(tmp_path_factory.mktemp("web") / "ckpt")


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(page_app(engine)) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(engine):
    with TestClient(page_app(engine, api_key="sesame")) as running:
        yield running


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<label for="terms">' in page.text and '<select id="count"' in page.text
    for name in re.findall(r'(?:src|href)="/static/([^"]+)"', page.text):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert "MIT License" in client.get("/static/uPlot.LICENSE").text
    assert client.get("/static/../page.py").status_code == 404


@pytest.mark.parametrize("query", ["?q=%ZZ&n=abc", "?q=%FF%FE", "?q=1,2&q=<script>", "?%%%=&&n"])
def test_a_malformed_query_string_still_gets_the_page(client, query):
    page = client.get("/" + query)
    assert page.status_code == 200 and "<textarea" in page.text
    assert "<script>" not in page.text.split("</head>")[1]  # nothing of the query is written back


def test_page_answer_parses_what_people_paste(client):
    answer = client.post("/v1/page", json={"text": "[1, 1, 2,\n3 5 8]", "n": 3}).json()
    assert answer["terms"] == ["1", "1", "2", "3", "5", "8"]
    assert answer["query"] == "1,1,2,3,5,8"
    best = answer["candidates"][0]
    assert best["continuation"] == ["13", "21", "34"]
    assert best["confidence"] == "high" and best["source_label"] == "rule search"
    assert "Fibonacci" in best["rule"]
    assert answer["text"].splitlines()[1] == "13, 21, 34"
    assert answer["text"].splitlines()[2].startswith("1. 13, 21, 34    confidence ")


def test_big_terms_travel_as_exact_strings(client):
    big = 10**40
    answer = client.post("/v1/page", json={"text": f"{big}, {2 * big}, {3 * big}, {4 * big}"})
    assert answer.json()["candidates"][0]["value"] == str(5 * big)


@pytest.mark.parametrize("text", ["", "1,a,3", "1, 2.5", "01, 2", "-0", "1,,2 +3", "[1, 2"])
def test_bad_text_gets_the_command_line_message(client, text):
    try:
        parse_terms(text)
        expected = None
    except SequenceError as error:
        expected = str(error)
    response = client.post("/v1/page", json={"text": text})
    if expected is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json()["error"]["message"] == expected


@pytest.mark.parametrize(
    "body, param",
    [({"text": "1,2", "n": 0}, "n"), ({"text": "1,2", "n": 999}, "n"), ({"text": [1, 2]}, "text")],
)
def test_bad_requests_are_400s(client, body, param):
    response = client.post("/v1/page", json=body)
    assert response.status_code == 400 and param in response.json()["error"]["message"]


def test_the_api_key_protects_the_json_not_the_page(keyed):
    assert keyed.get("/").status_code == 200
    for path, body in (("/v1/page", {"text": "1,2,3"}), ("/v1/next-terms", {"terms": "1,2,3"})):
        assert keyed.post(path, json=body).status_code == 401
        headers = {"Authorization": "Bearer sesame"}
        assert keyed.post(path, json=body, headers=headers).status_code == 200


def test_markup_in_a_name_is_data_not_html(client):
    answer = client.post("/v1/page", json={"text": "999, 1, 2", "n": 2}).json()
    found = answer["candidates"][0]
    assert found["oeis"] == {
        "anum": "A000001",
        "name": HOSTILE_NAME,
        "transform": "",  # named by the rule
        "url": "https://oeis.org/A000001",
    }
    assert found["rule"] == "continues this OEIS sequence via differences"
    assert found["relatives"][0]["name"] == "<b>bold</b>"
    assert found["evidence"] == "matched 3 given terms"


def test_a_rule_the_oeis_agrees_with_is_shown_without_the_oeis_suffix():
    oeis = {"anum": "A000045", "name": "Fibonacci numbers", "transform": "identity"}
    rule = Candidate(
        13,
        0.95,
        "rule",
        "a(n) = Fibonacci(n); OEIS A000045 Fibonacci numbers",
        (13, 21),
        6,
        {"oeis": oeis},
    )
    shown = {
        "rank": 1,
        "value": 13,
        "continuation": [13, 21],
        "truncated": False,
        "probability": 0.95,
    }
    view = page_answer([1, 1, 2, 3, 5, 8], 2, [(shown, rule)], "hybrid", 0)["candidates"][0]
    assert view["rule"] == "a(n) = Fibonacci(n)"
    assert view["oeis"]["url"] == "https://oeis.org/A000045" and view["oeis"]["transform"] == ""
    lookup = page_answer([999], 1, [({**shown, "value": 7}, hostile(1))], "hybrid", 0)
    assert lookup["candidates"][0]["oeis"]["anum"] == "A000001"


def test_the_shipped_numbers_are_the_benchmark_results():
    assert numbers.load() == numbers.collect(RESULTS)
    hybrid = json.loads((RESULTS / "evals-hybrid.json").read_text())["benchmarks"]
    page = render_page(ServeConfig())
    assert f"<td>{round(100 * hybrid['oeis']['accuracy'], 2):g}%</td>" in page
    assert f"<td>{round(hybrid['m1']['mape'], 2):g}</td>" in page
    latency = json.loads((RESULTS / "predict.json").read_text())
    assert f"p50 {round(latency['p50_ms'], 1):g} ms" in page
    web = json.loads((RESULTS / "web.json").read_text())
    asked = web["by_n"][max(web["by_n"], key=int)]
    assert f"p50 {round(asked['p50_ms'], 1):g} ms, p95 {round(asked['p95_ms'], 1):g} ms" in page


def test_the_page_escapes_what_it_fills_in():
    shipped = numbers.load()
    shipped["accuracy"][0]["predictor"] = "<script>x</script>"
    page = render_page(ServeConfig(model_name='"><b>'), shipped)
    assert "<script>x" not in page and "&lt;script&gt;x" in page and '"><b>' not in page
