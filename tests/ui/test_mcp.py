"""The MCP server: its four tools in-process (no model), and ``qa mcp`` over stdio with the SDK's own client."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable

import anyio
import pytest
from mcp import Client, ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from qa import QA, answer_to_dict
from ui.mcp_server import build_mcp
from ui.service import Service

REPO = Path(__file__).resolve().parents[2]
TOOLS = {"ask", "search", "list_articles", "get_article"}


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """``anyio.run(main)`` in a thread of its own: the browser tests' Playwright keeps an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, main).result()


def with_client(qa: QA, use: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run ``use`` with an SDK client connected in-process to the MCP server over ``qa``."""
    async def main() -> Any:
        async with Client(build_mcp(Service(qa))) as client:
            return await use(client)

    return run(main)


def data_of(result: CallToolResult) -> Any:
    """A tool's JSON: its one text block, which must agree with its structured content."""
    assert not result.is_error, result.content
    (block,) = result.content
    data = json.loads(block.text)
    assert result.structured_content == (data if isinstance(data, dict) else {"result": data})
    return data


def test_the_four_tools_are_listed_with_their_arguments(fake_qa):
    tools = with_client(fake_qa, lambda c: c.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    schemas = {t.name: t.input_schema for t in tools}
    assert schemas["ask"]["required"] == ["question"] and {"history", "k"} <= set(schemas["ask"]["properties"])
    assert schemas["get_article"]["required"] == ["doc_id"] and schemas["search"]["required"] == ["query"]
    assert all(t.description for t in tools)


def test_ask_returns_the_json_of_qa_ask_and_follows_history(fake_qa):
    async def use(client: Client) -> tuple[Any, Any]:
        plain = await client.call_tool("ask", {"question": "How many runners started?", "k": 2})
        follow = await client.call_tool("ask", {"question": "What did he win?",
                                                "history": [["Who won the men's race?", "Samuel Kiprono"]]})
        return data_of(plain), data_of(follow)

    plain, follow = with_client(fake_qa, use)
    assert plain == answer_to_dict(fake_qa.ask("How many runners started?", k=2)) and plain["answer"] == "9,400"
    assert follow["rewritten_question"] == "What did Samuel Kiprono win?"


def test_search_list_and_get_article(fake_qa):
    async def use(client: Client) -> tuple[Any, Any, Any]:
        hits = data_of(await client.call_tool("search", {"query": "library hours", "k": 2}))
        rows = data_of(await client.call_tool("list_articles", {}))
        article = data_of(await client.call_tool("get_article", {"doc_id": rows[1]["doc_id"]}))
        return hits, rows, article

    hits, rows, article = with_client(fake_qa, use)
    assert len(hits) == 2 and set(hits[0]) == {"doc_id", "title", "date", "source", "start", "end", "text", "score"}
    assert rows == [{"doc_id": r.doc_id, "title": r.title, "date": r.date, "source": r.source, "chunks": r.chunks}
                    for r in fake_qa.index.list()]
    stored = fake_qa.index.article(rows[1]["doc_id"])
    assert article == {"doc_id": stored.doc_id, "title": "Marathon record", "date": None, "source": stored.source,
                       "text": stored.text}


@pytest.mark.parametrize("tool,arguments,message", [
    ("ask", {"question": "  "}, "the question is empty"),
    ("ask", {"question": "Who?", "k": 0}, "k must be a whole number from 1 to 20"),
    ("search", {"query": ""}, "the query is empty"),
    ("get_article", {"doc_id": "nope"}, "no article with id nope"),
])
def test_library_errors_are_tool_errors_with_their_message(fake_qa, tool, arguments, message):
    result = with_client(fake_qa, lambda c: c.call_tool(tool, arguments))
    assert result.is_error and message in result.content[0].text


def test_an_unexpected_failure_keeps_its_details_out_of_the_reply(fake_qa, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("secret internals at /home/someone")

    monkeypatch.setattr(Service, "articles", broken)
    result = with_client(fake_qa, lambda c: c.call_tool("list_articles", {}))
    assert result.is_error and "secret" not in result.content[0].text


@pytest.mark.slow
def test_qa_mcp_over_stdio_lists_the_tools_and_answers(seed_index_dir, tmp_path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "ui.cli", "mcp", "--index", str(seed_index_dir)],
                                   cwd=REPO)

    async def main() -> tuple[set[str], Any, Any]:
        with (tmp_path / "stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                names = {tool.name for tool in (await session.list_tools()).tools}
                answer = await session.call_tool("ask", {"question": "Who is the Kremlin spokesman?"})
                articles = await session.call_tool("list_articles", {})
                return names, data_of(answer), data_of(articles)

    names, answer, articles = run(main)
    assert names == TOOLS
    assert answer["answer"] == "Dmitry Peskov"
    cite = answer["citations"][0]
    assert Path(cite["source"]).name == "004_8467221223641e93.txt"
    assert cite["sentence"][cite["start"] - cite["sentence_start"] : cite["end"] - cite["sentence_start"]] == "Dmitry Peskov"
    assert len(articles) == 2
