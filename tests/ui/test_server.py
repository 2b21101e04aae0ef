"""The REST API: every endpoint and error path through FastAPI's TestClient (no model), and one real ``qa serve``."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from index import QAError
from qa import QA, answer_to_dict
from ui.server import MAX_JSON_BYTES, create_app, serve
from ui.service import MAX_K, MAX_TURNS, Service

REPO = Path(__file__).resolve().parents[2]
TOKEN = "t0ken-for-tests"


def client_for(qa: QA, **kwargs) -> TestClient:
    """A client of the API alone (the chat is tested once, below); a server error is a response, as for callers."""
    service = Service(qa, max_upload_bytes=kwargs.pop("max_upload_bytes", 4000))
    return TestClient(create_app(service, chat=False, **kwargs), raise_server_exceptions=False)


@pytest.fixture
def api(fake_qa: QA) -> TestClient:
    return client_for(fake_qa)


def error_of(response: httpx.Response, status: int) -> str:
    """The one-line message of a JSON error response with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


# ----- the endpoints -------------------------------------------------------------------------------------------
def test_ask_returns_the_json_of_qa_ask(api, fake_qa):
    data = api.post("/v1/ask", json={"question": "How many runners started?", "k": 2}).json()
    assert data == answer_to_dict(fake_qa.ask("How many runners started?", k=2))
    assert data["answer"] == "9,400" and len(data["passages"]) == 2
    cite = data["citations"][0]
    assert fake_qa.index.article(cite["doc_id"]).text[cite["start"] : cite["end"]] == "9,400"


def test_ask_takes_the_history_of_a_conversation(api):
    first = api.post("/v1/ask", json={"question": "Who won the men's race?"}).json()
    follow = api.post("/v1/ask", json={"question": "What did he win?",
                                       "history": [["Who won the men's race?", "Samuel Kiprono"]]}).json()
    assert first["rewritten_question"] is None
    assert follow["rewritten_question"] == "What did Samuel Kiprono win?", follow
    unanswered = api.post("/v1/ask", json={"question": "What about it?", "history": [["Library hours?", None]]})
    assert unanswered.status_code == 200 and unanswered.json()["rewritten_question"].startswith("What about it?")


def test_search_returns_ranked_passages(api, fake_qa):
    hits = api.get("/v1/search", params={"q": "marathon runners", "k": 2}).json()
    assert len(hits) == 2 and [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    for hit in hits:
        assert set(hit) == {"doc_id", "title", "date", "source", "start", "end", "text", "score"}
        assert fake_qa.index.article(hit["doc_id"]).text[hit["start"] : hit["end"]] == hit["text"]
    assert len(api.get("/v1/search", params={"q": "marathon"}).json()) == 3  # k defaults to the QA's (5), 3 chunks


def test_articles_lists_what_qa_list_json_prints(api, fake_qa):
    assert api.get("/v1/articles").json() == [dataclasses.asdict(row) for row in fake_qa.index.list()]


def test_upload_follows_the_chats_rules(api, fake_qa):
    files = [
        ("files", ("solar.txt", b"Solar farm opens\n2025-01-17\n\nNordsol said its 48,000 panels power homes.\n")),
        ("files", ("../../etc/sneaky.md", b"# Sneaky\n\nA path in a file name is not followed.\n")),
        ("files", ("empty.md", b"  \n")),
        ("files", ("latin1.txt", "caf\xe9 au lait".encode("latin-1"))),
        ("files", ("big.txt", b"x" * 5000)),  # the service's upload limit here is 4,000 bytes
        ("files", ("notes.pdf", b"%PDF-1.4")),
    ]
    report = api.post("/v1/articles", files=files).json()
    assert (report["added"], report["skipped"]) == (2, 4)
    reasons = {w["source"]: w["reason"] for w in report["warnings"]}
    assert "empty file" in reasons["empty.md"] and "not UTF-8" in reasons["latin1.txt"]
    assert "over the upload limit" in reasons["big.txt"] and "unsupported file type" in reasons["notes.pdf"]
    sources = {row["source"] for row in api.get("/v1/articles").json()}
    assert {"solar.txt", "sneaky.md"} <= sources
    assert fake_qa.ask("How many panels?", k=5).text is not None


def test_delete_removes_an_article_and_404s_an_unknown_one(api):
    doc_id = api.get("/v1/articles").json()[0]["doc_id"]
    assert api.delete(f"/v1/articles/{doc_id}").json() == {"removed": doc_id}
    assert doc_id not in {row["doc_id"] for row in api.get("/v1/articles").json()}
    assert error_of(api.delete(f"/v1/articles/{doc_id}"), 404) == f"no article with id {doc_id}"


def test_healthz_and_the_openapi_docs(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/v1/articles", "/v1/articles/{doc_id}", "/healthz"} <= set(paths)
    assert set(paths["/v1/articles"]) == {"get", "post"} and "requestBody" in paths["/v1/ask"]["post"]
    assert "swagger" in api.get("/docs").text.lower()


# ----- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body,message", [
    ({"question": "   "}, "the question is empty"),
    ({"question": "x" * 5000}, "the question is 5000 characters long"),
    ({"question": 42}, "question: Input should be a valid string"),
    ({}, "question: Field required"),
    ({"question": "Who?", "k": 0}, f"k must be a whole number from 1 to {MAX_K}"),
    ({"question": "Who?", "k": MAX_K + 1}, f"k must be a whole number from 1 to {MAX_K}"),
    ({"question": "Who?", "k": "3"}, "k: Input should be a valid integer"),
    ({"question": "Who?", "k": True}, "k: Input should be a valid integer"),
    ({"question": "Who?", "history": [["only a question"]]}, "history.0.1: Field required"),
    ({"question": "Who?", "history": "Who won?"}, "history: Input should be a valid list"),
    ({"question": "Who?", "history": [["q", "a"]] * (MAX_TURNS + 1)}, "history: List should have at most"),
    ({"question": "Who?", "questoin": "typo"}, "questoin: Extra inputs are not permitted"),
    ([1, 2], "the body must be a JSON object"),
])
def test_bad_ask_bodies_are_400_with_one_line(api, body, message):
    assert error_of(api.post("/v1/ask", json=body), 400).startswith(message)


def test_a_body_that_is_not_json_is_400(api):
    bad = api.post("/v1/ask", content=b"{question: ", headers={"content-type": "application/json"})
    assert error_of(bad, 400).startswith("the body is not valid JSON")


@pytest.mark.parametrize("params,message", [
    ({}, "q: Field required"), ({"q": "  "}, "the query is empty"), ({"q": "x" * 3000}, "the query is 3000 characters"),
    ({"q": "runners", "k": "0"}, "k must be a whole number"), ({"q": "runners", "k": "two"}, "k: Input should be"),
])
def test_bad_searches_are_400(api, params, message):
    assert error_of(api.get("/v1/search", params=params), 400).startswith(message)


def test_an_upload_without_files_is_400(api):
    assert error_of(api.post("/v1/articles", data={"note": "no files"}), 400) == "files: Field required"


def test_bodies_over_their_limit_are_413_and_change_nothing(fake_qa):
    api = client_for(fake_qa, max_upload_body_bytes=10_000)
    before = api.get("/v1/articles").json()
    big = [("files", ("a.txt", b"Title\n\n" + b"word " * 1500)), ("files", ("b.txt", b"Title\n\n" + b"word " * 1500))]
    assert "10,000 bytes" in error_of(api.post("/v1/articles", files=big), 413)
    assert api.get("/v1/articles").json() == before
    padded = {"question": "How many runners?", "history": [["q" * 900, "a" * 900]] * 600}  # 1.1 MB of JSON
    assert f"{MAX_JSON_BYTES:,} bytes" in error_of(api.post("/v1/ask", json=padded), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"question": "How many runners?", "history": ['
        for _ in range(1200):
            yield b'["' + b"q" * 1000 + b'", null],'
        yield b'["q", null]]}'

    assert error_of(api.post("/v1/ask", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_unknown_endpoints_are_404_and_wrong_methods_405(api):
    assert error_of(api.get("/v1/nothing-here"), 404) == "no endpoint /v1/nothing-here"
    wrong = api.get("/v1/ask")
    assert error_of(wrong, 405) == "GET is not allowed on /v1/ask" and wrong.headers["allow"] == "POST"


def test_no_index_is_503(tmp_path):
    from index import Index

    api = client_for(QA(Index(tmp_path / "none")))
    for response in (api.post("/v1/ask", json={"question": "Who?"}), api.get("/v1/search", params={"q": "who"}),
                     api.get("/v1/articles"), api.delete("/v1/articles/abc")):
        assert error_of(response, 503).startswith("no index at")


def test_an_unexpected_failure_is_a_generic_500(api, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("secret internals at /home/someone")

    monkeypatch.setattr(Service, "articles", broken)
    message = error_of(api.get("/v1/articles"), 500)
    assert message == "internal server error (the server's log has the details)" and "secret" not in message


# ----- auth and binding ----------------------------------------------------------------------------------------
def test_every_v1_endpoint_needs_the_bearer_token(fake_qa):
    api = client_for(fake_qa, token=TOKEN)
    calls = [("post", "/v1/ask", {"json": {"question": "How many runners?"}}), ("get", "/v1/search?q=runners", {}),
             ("get", "/v1/articles", {}), ("post", "/v1/articles", {"files": [("files", ("a.txt", b"A\n\nB 1.\n"))]}),
             ("delete", "/v1/articles/abc", {}), ("get", "/v1/unknown", {})]
    for method, url, kwargs in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": f"Bearer {TOKEN}x"}):
            refused = getattr(api, method)(url, headers=headers, **kwargs)
            assert error_of(refused, 401) == "missing or wrong bearer token"
            assert refused.headers["www-authenticate"] == "Bearer"
        allowed = getattr(api, method)(url, headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)
        assert allowed.status_code in (200, 404), (url, allowed.text)  # 404: the unknown doc_id and endpoint
    assert api.get("/healthz").status_code == 200  # liveness needs no token
    assert "HTTPBearer" in api.get("/openapi.json").json()["components"]["securitySchemes"]


@pytest.mark.parametrize("token", ["", "two words", "caf\xe9", "tab\there"])
def test_a_token_that_cannot_be_sent_is_refused(fake_qa, token):
    with pytest.raises(QAError, match="printable ASCII"):
        create_app(Service(fake_qa), token=token, chat=False)


def test_serve_binds_loopback_quietly_and_warns_once_for_other_hosts(fake_qa, monkeypatch, capsys):
    runs: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: runs.append(kwargs))
    serve(fake_qa, token=TOKEN, auth="alice:s3cret")
    assert (runs[-1]["host"], runs[-1]["port"]) == ("127.0.0.1", 8000)
    assert "warning" not in capsys.readouterr().err
    serve(fake_qa, host="0.0.0.0", port=8080)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert runs[-1]["host"] == "0.0.0.0" and len(err) == 1
    assert "--token" in err[0] and "--auth user:password" in err[0]


def test_the_chat_is_served_at_the_root_beside_the_api(fake_qa):
    with TestClient(create_app(Service(fake_qa), token=TOKEN)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert client.get("/gradio_api/info").json()["named_endpoints"]["/ask"]
        assert client.get("/v1/articles").status_code == 401


# ----- a real server --------------------------------------------------------------------------------------------
def run_qa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.mark.slow
def test_qa_serve_answers_a_seed_question_as_qa_ask_json_does(seed_index_dir, port, tmp_path):
    question = "Who is the Kremlin spokesman?"  # answered right by the default pipeline (not a known miss)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--index", str(seed_index_dir),
                               "--port", str(port)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "QA_API_TOKEN": TOKEN})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "qa serve did not start"
                time.sleep(0.5)
        assert httpx.post(f"{url}/v1/ask", json={"question": question}).status_code == 401
        served = httpx.post(f"{url}/v1/ask", json={"question": question},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    asked = run_qa("ask", question, "--index", str(seed_index_dir), "--json")
    assert asked.returncode == 0, asked.stderr
    assert served.status_code == 200, served.text
    assert served.json()["answer"] == "Dmitry Peskov"
    assert served.json() == json.loads(asked.stdout)


@pytest.mark.slow
def test_the_api_answers_17_to_the_seed_question_with_a_reader_that_finds_it(seed_index_dir):
    """Issue 13's check "POST /v1/ask answers the seeds with 17", through the real index and embedder. The default
    (neural) reader says "not found" to this question (tests/qa/test_pipeline.py KNOWN_DEFAULT_MISSES, a reader
    shortfall of issue 10), so the heuristic reader, which finds it, is the one asked here."""
    from index import Index
    from qa import QAConfig

    qa = QA(Index(seed_index_dir), QAConfig(reader="heuristic"))
    body = client_for(qa).post("/v1/ask", json={"question": "How many women attended?"}).json()
    assert body["answer"] == "17" and body["citations"][0]["start"] < body["citations"][0]["end"]
    assert body == answer_to_dict(qa.ask("How many women attended?"))
