"""The MCP server (``qa mcp``): the index as four tools over stdio, with the official ``mcp`` SDK.

Tools: ``ask`` (the JSON of ``qa ask --json``), ``search`` (passages), ``list_articles`` (as ``qa list
--json``) and ``get_article`` (one article's text). Stdout carries the protocol: the SDK points file
descriptor 1 at stderr while it serves, and its logging goes to stderr, so nothing else can reach it.
A ``QAError`` becomes the tool's error message; any other failure only "Error executing tool", with
the traceback in the server's log. Nothing here imports Gradio.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from index import QAError
from qa import QA
from ui.service import Service

INSTRUCTIONS = (
    "Answers questions from a collection of news articles. Every answer is a span copied word for word from an "
    "article, with citations (doc_id, title, date, source, character offsets, sentence). An answer of null means "
    "the articles do not hold it; the closest passages are still listed. Pass earlier turns as history for follow-ups."
)


def _tool(call: Callable[[], dict[str, Any] | list[dict[str, Any]]]) -> CallToolResult:
    """The result of ``call`` as one text block holding its JSON (as the CLI prints it) and as structured content.

    A list is structured as ``{"result": [...]}``, since clients of older protocol versions expect an object.
    """
    try:
        data = call()
    except QAError as exc:
        raise ToolError(" ".join(str(exc).split())) from None
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=data if isinstance(data, dict) else {"result": data})


def build_mcp(service: Service) -> MCPServer:
    """The MCP server over ``service`` (not running).

    Example:
        >>> build_mcp(Service(QA(Index("qa-index")))).run("stdio")
    """
    server: MCPServer = MCPServer("news-qa", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def ask(question: str, history: list[tuple[str, str | None]] | None = None, k: int | None = None) -> CallToolResult:
        """Answer a question from the indexed news articles, citing where the answer was found.

        history: earlier turns, oldest first, each [question, answer or null] (use each previous result's
        rewritten_question, or question, and its answer), so that "What did he say?" is understood.
        k: passages to read (default: the server's). Returns {question, answer (null: not found), score,
        rewritten_question, citations: [{doc_id, title, date, source, start, end, sentence, sentence_start}],
        passages: [...]}.
        """
        return _tool(lambda: service.ask(question, history=history, k=k))

    @server.tool()
    def search(query: str, k: int | None = None) -> CallToolResult:
        """The passages of the indexed articles that best match a query, best first.

        Each: {doc_id, title, date, source, start, end, text, score}; start/end are offsets in the article.
        """
        return _tool(lambda: service.search(query, k))

    @server.tool()
    def list_articles() -> CallToolResult:
        """Every indexed article: {doc_id, title, date, source, chunks}."""
        return _tool(service.articles)

    @server.tool()
    def get_article(doc_id: str) -> CallToolResult:
        """One article's full text with its doc_id, title, date and source (offsets in answers refer to this text)."""
        return _tool(lambda: service.article(doc_id))

    return server


def run_stdio(qa: QA) -> None:
    """Serve ``qa``'s index over MCP on stdin/stdout until the client closes them.

    Without an index yet, says so on stderr and serves anyway: the tools answer once one is built.
    """
    if not qa.index.exists:
        print(f"warning: no index at {qa.index.path} yet; the tools will report it until one is built "
              f"(qa ingest PATH --index {qa.index.path})", file=sys.stderr)
    build_mcp(Service(qa)).run("stdio")
