"""The `qa` command as a user runs it (real model)."""

import ipaddress
import json
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ui.cli import main


@pytest.fixture(autouse=True)
def no_server_no_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process, qa chat, qa serve and qa mcp never serve and no host name is resolved.

    A server whose options were wrongly accepted would otherwise start and block the run; here it
    fails at once. A host that is not an address literal is unknown, as with no network.
    """
    for module, name in (("ui.app", "launch"), ("ui.server", "serve"), ("ui.mcp_server", "run_stdio")):
        fake = types.ModuleType(module)

        def refuse(*args, **kwargs) -> None:
            raise AssertionError("a server started: its options were not refused")

        setattr(fake, name, refuse)
        monkeypatch.setitem(sys.modules, module, fake)
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (no resolver in tests)") from None
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def run_qa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])


@pytest.mark.slow
def test_ingest_seeds_then_ask_json_answers_with_exact_offsets(tmp_path, shared_dir):
    ix = str(tmp_path / "ix")
    done = run_qa("ingest", str(shared_dir / "seeds"), "--index", ix, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout
    asked = run_qa("ask", "Who is the lawyer for the Committee of Soldiers' Mothers of Russia?", "--index", ix, "--json")
    assert asked.returncode == 0, asked.stderr
    data = json.loads(asked.stdout)
    assert data["answer"] == "Valentina Melnikova"
    assert 0.0 < data["score"] <= 1.0
    cite = data["citations"][0]
    assert Path(cite["source"]).name == "000_ea8d4c235abd4d08.txt"
    article = (shared_dir / "seeds" / "000_ea8d4c235abd4d08.txt").read_text(encoding="utf-8")
    assert article[cite["start"] : cite["end"]] == "Valentina Melnikova"
    assert data["passages"] and {"doc_id", "title", "text", "start", "end", "score"} <= set(data["passages"][0])
    again = run_qa("ingest", str(shared_dir / "seeds"), "--index", ix, "--quiet")
    assert "0 added" in again.stdout and "2 unchanged" in again.stdout


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["ask", "Who?", "--index", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no index at") and err.count("\n") == 1 and "Traceback" not in err


def test_ingest_of_a_missing_path_warns_and_exits_zero(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nope.txt"), "--index", str(tmp_path / "ix"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "no such file or folder" in captured.err and "0 added" in captured.out


def _exit(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's rejections exit through SystemExit
        return int(exc.code)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


BAD_OPTIONS = [
    ["ask", "Q", "-k", "0"], ["ask", "Q", "-k", "-1"], ["ask", "Q", "-k", "many"],
    ["ask", "Q", "--threshold", "2"], ["ask", "Q", "--threshold", "-0.1"], ["ask", "Q", "--threshold", "nan"],
    ["ingest", "x.txt", "--chunk-size", "10"], ["ingest", "x.txt", "--chunk-size", "0"],
    ["ingest", "x.txt", "--chunk-overlap", "5000"], ["ingest", "x.txt", "--chunk-overlap", "-1"],
    ["ingest", "x.txt", "--chunk-size", "100", "--chunk-overlap", "100"],
    ["ingest", "x.txt", "--max-file-mb", "0"], ["ingest", "x.txt", "--max-file-mb", "nan"],
    ["ingest", "x.txt", "--max-file-mb", "inf"], ["ingest", "x.txt", "--max-file-mb", "-1"],
    ["ingest", "x.txt", "--max-file-mb", "1e-9"], ["ingest", "x.txt", "--max-file-mb", "1e305"],
    ["ingest", "x.txt", "--lock-timeout", "-1"], ["ingest", "x.txt", "--lock-timeout", "nan"],
    ["chat", "-k", "0"], ["chat", "--threshold", "2"], ["ask", "Q", "--retrieval", "fuzzy"],
    ["chat", "--port", "70000"], ["chat", "--port", "-1"], ["chat", "--port", "0"], ["chat", "--host", "999.1.1.1"],
    ["serve", "-k", "0"], ["serve", "--threshold", "2"], ["serve", "--port", "0"], ["serve", "--host", "999.1.1.1"],
    ["serve", "--token", ""], ["serve", "--token", "two words"], ["serve", "--token", "caf\xe9"], ["mcp", "-k", "0"],
    ["qa-has-no-such-command"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=" ".join)
def test_a_bad_option_is_one_error_line_and_exit_1(argv: list[str], tmp_path: Path, capsys) -> None:
    index = tmp_path / "ix"
    assert _exit([*argv, "--index", str(index)] if argv[0] != "qa-has-no-such-command" else argv) == 1
    _one_error_line(capsys)
    assert not index.exists()  # refused before anything was written


def test_an_option_error_shows_control_characters_as_escapes(capsys) -> None:
    assert _exit(["list", "--bogus\x1b]0;X\x07"]) == 1
    err = _one_error_line(capsys)
    assert "\x1b" not in err and "\x07" not in err and "--bogus\\x1b]0;X\\x07" in err


@pytest.mark.parametrize("argv", [["ingest", "x.txt"], ["ask", "Q"], ["list"], ["info"], ["check"], ["remove", "abc"],
                                  ["chat"], ["serve"], ["mcp"]], ids=" ".join)
def test_an_index_path_naming_a_file_is_one_error_line(argv: list[str], tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    assert _exit([*argv, "--index", str(afile)]) == 1
    assert "is a file, not an index folder" in _one_error_line(capsys) and afile.read_text() == "mine\n"


@pytest.mark.parametrize("command", ["chat", "serve"])
def test_a_server_on_a_port_in_use_is_one_error_line(command: str, tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _exit([command, "--port", str(port), "--index", str(tmp_path / "ix")]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in _one_error_line(capsys)
