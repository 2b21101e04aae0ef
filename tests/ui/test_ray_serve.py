"""``qa serve --ray``: the REST API as a Ray Serve deployment of 2 replicas on a local cluster (ui/ray_serve.py).

Skipped where ``ray`` is not installed, failing instead in CI (QA_REQUIRE_RAY=1, see the ``ray_cluster`` fixture).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from index import Index
from qa import QAConfig
from tests.compare import assert_same_answer
from tests.conftest import make_article
from ui.cli import main

pytestmark = pytest.mark.slow
TOKEN = "s3cret-ray"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def deployed(ray_cluster, seed_index_dir: Path, copy_index):
    """The seed index (a copy) served by 2 replicas on 127.0.0.1; removed afterwards."""
    from ray import serve

    from ui.ray_serve import RayServeConfig, deploy

    path = copy_index(seed_index_dir)
    url = deploy(path, QAConfig(), RayServeConfig(replicas=2, port=_free_port()), token=TOKEN)
    try:
        yield path, url
    finally:
        serve.shutdown()


def test_two_replicas_answer_as_qa_ask_json_and_see_new_commits(deployed, shared_dir: Path, capsys) -> None:
    path, url = deployed
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=url, timeout=120) as client:
        assert client.post("/v1/ask", json={"question": "Who?"}).status_code == 401  # the token is kept
        questions = [json.loads(line)["question"] for line in
                     (shared_dir / "seeds" / "questions.jsonl").read_text().splitlines() if line.strip()]
        for question in questions:
            got = client.post("/v1/ask", json={"question": question}, headers=auth)
            assert got.status_code == 200, got.text
            assert main(["ask", question, "--index", str(path), "--json"]) == 0
            assert_same_answer(got.json(), json.loads(capsys.readouterr().out))
        before = {a["doc_id"] for a in client.get("/v1/articles", headers=auth).json()}
        added = make_article("Harbor ferry", "The harbor ferry will run every 20 minutes from May, the mayor said.")
        Index(path).add_articles([added])  # a commit from outside the deployment
        for _ in range(12):  # requests spread over both replicas: each must see the new commit point
            after = {a["doc_id"] for a in client.get("/v1/articles", headers=auth).json()}
            assert after == before | {added.doc_id}
