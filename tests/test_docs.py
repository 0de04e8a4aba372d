"""The docs cannot drift from the program: every `calgen …` command they show runs.

Each fenced block of README.md, CONTRIBUTING.md and docs/*.md is read in document order.
A line that runs calgen (`calgen …`, `.venv/bin/calgen …`, `python -m calgen …`, also as
a step after `&&`) is run in a scratch copy of `runbooks/` and `pyproject.toml`, one
scratch folder per document, and must exit 0, or N when its comment starts with `exit N`.
A block right after a line ending in "`FILE`:" is written to FILE first (the subscribers
file the notify examples use). `calgen serve` runs as a subprocess on a free port of
127.0.0.1: its index is fetched, then it is stopped. Commands in `cron` and `yaml` blocks
(a real SMTP server, a CI runner) cannot run here: their command and options are checked
against `calgen COMMAND --help`.

Also: the README stays a front door (at most 200 lines, opening with the test command CI
runs), its command list matches the program's, every command is shown running somewhere,
the docs name no module paths (the package tree moves), and relative links resolve.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from calgen.cli import main
from tests.conftest import ROOT

DOCS = (
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
)
LINKED = (*DOCS, ROOT / "benchmarks" / "README.md")
NOT_RUN_HERE = {"cron", "yaml", "yml"}  # block languages: checked against --help only
CALGEN = re.compile(r"(?:(?<=\s)|^)(?:\.venv/bin/calgen|(?:\S*/)?python3? -m calgen|calgen)\s")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
NAMES_FILE = re.compile(r"`(?P<name>[\w./-]+)`:\s*$")
EXIT = re.compile(r"^#\s*exit (?P<code>\d+)\b")


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    doc: Path
    line: int  # of the opening fence
    lang: str
    lines: tuple[str, ...]
    file: str | None  # the file the line before the block names, if any


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """One calgen invocation as a document shows it."""

    where: str  # doc:line, for messages
    argv: tuple[str, ...]  # after `calgen`
    env: tuple[tuple[str, str], ...]
    stdout: str | None  # `> FILE`
    exit: int
    run: bool  # False: checked against --help only


@dataclass(frozen=True, kw_only=True, slots=True)
class WriteFile:
    where: str
    path: str
    text: str


Step = Command | WriteFile


def _blocks(doc: Path) -> Iterator[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, fence = len(opened["indent"]), opened["fence"]
        before = next((line for line in reversed(lines[:i]) if line.strip()), "")
        named = NAMES_FILE.search(before)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        yield Block(
            doc=doc,
            line=i + 1,
            lang=(opened["info"].split() or [""])[0],
            lines=tuple(body),
            file=named["name"] if named else None,
        )
        i = j + 1


def _logical_lines(block: Block) -> Iterator[tuple[int, str]]:
    """Lines with `\\` continuations joined, numbered by their first line in the doc."""
    pending, start = "", 0
    for n, line in enumerate(block.lines, block.line + 1):
        if not pending:
            start = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def _split_comment(line: str) -> tuple[str, str]:
    """(code, comment): a `#` outside quotes, at the start or after a blank, starts it."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i:]
    return line, ""


def _tokens(code: str) -> list[str]:
    lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def _calgen_args(tokens: list[str]) -> tuple[list[str], list[str]] | None:
    """(env assignments, arguments after calgen) when `tokens` run calgen, else None."""
    env: list[str] = []
    while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
        env.append(tokens.pop(0))
    if tokens[:1] in (["calgen"], [".venv/bin/calgen"]):
        return env, tokens[1:]
    python = bool(tokens) and re.fullmatch(r"(\S*/)?python3?", tokens[0]) is not None
    if python and tokens[1:3] == ["-m", "calgen"]:
        return env, tokens[3:]
    return None


def _command(where: str, code: str, comment: str, *, run: bool) -> list[Command]:
    out: list[Command] = []
    segments: list[list[str]] = [[]]
    for token in _tokens(code):
        if token == "&&":
            segments.append([])
        else:
            segments[-1].append(token)
    found = EXIT.match(comment.strip())
    for segment in segments:
        parsed = _calgen_args(segment)
        if parsed is None:
            continue
        env, args = parsed
        stdout = None
        if run:
            if ">" in args and args.index(">") == len(args) - 2:
                stdout = args[-1]
                args = args[:-2]
            odd = [a for a in args if a and all(c in "();<>|&" for c in a)]
            assert not odd, f"{where}: the docs test cannot run shell syntax {odd}: {code}"
        else:  # the rest of the line is the shell's: redirections, other commands
            cut = next((i for i, a in enumerate(args) if a[0] in "();<>|&"), len(args))
            args = args[:cut]
        out.append(
            Command(
                where=where,
                argv=tuple(args),
                env=tuple((name, value) for name, _, value in (e.partition("=") for e in env)),
                stdout=stdout,
                exit=int(found["code"]) if found else 0,
                run=run,
            )
        )
    return out


def _steps(doc: Path) -> list[Step]:
    steps: list[Step] = []
    for block in _blocks(doc):
        rel = doc.relative_to(ROOT)
        if block.file is not None:
            text = "".join(line + "\n" for line in block.lines)
            steps.append(WriteFile(where=f"{rel}:{block.line}", path=block.file, text=text))
            continue
        run = block.lang not in NOT_RUN_HERE
        for n, line in _logical_lines(block):
            code, comment = _split_comment(line)
            start = CALGEN.search(code)
            if start is None:
                continue  # a dist/ tree, a pip install, nginx -t: not calgen
            if not run:  # the cron line's `cd … &&`, the CI step's `- run:`
                code = code[start.start() :]
            steps += _command(f"{rel}:{n}", code, comment, run=run)
    return steps


def _commands(doc: Path) -> list[Command]:
    return [step for step in _steps(doc) if isinstance(step, Command)]


@cache
def _help(*argv: str) -> str:
    """What `calgen ARGV --help` prints."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def _subcommands() -> set[str]:
    text = _help().split("COMMAND ...", 1)[1]
    return set(re.findall(r"^ {4}([a-z][a-z-]*)(?:\s|$)", text, re.MULTILINE))


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text)) - {"--help"}


def _check_against_help(command: Command) -> None:
    words = [a for a in command.argv if not a.startswith("-")]
    assert words, f"{command.where}: no command in calgen {' '.join(command.argv)}"
    assert words[0] in _subcommands(), f"{command.where}: no command `calgen {words[0]}`"
    used = {a.split("=", 1)[0] for a in command.argv if a.startswith("--")}
    unknown = used - _options(_help(words[0]))
    assert not unknown, f"{command.where}: calgen {words[0]} has no option {sorted(unknown)}"


def _run_in_process(command: Command, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in command.env:
            patch.setenv(name, value)
        try:
            code = main(list(command.argv))
        except SystemExit as exc:  # argparse: usage errors, --help, --version
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    if command.stdout is not None:
        Path(command.stdout).parent.mkdir(parents=True, exist_ok=True)
        Path(command.stdout).write_text(captured.out, encoding="utf-8")
    return code, captured.err


def _without_port(argv: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--port":
            skip = True
        elif not arg.startswith("--port="):
            out.append(arg)
    return out


SERVERS = {"serve": 200, "unsubscribe-server": 400}  # what GET / gives (no token: 400)


def _run_serve(command: Command) -> tuple[int, str]:
    """`calgen serve` or `unsubscribe-server` as shown, on a free port of 127.0.0.1: fetch
    `/` (a page), then Ctrl-C it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "calgen", *_without_port(command.argv), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **dict(command.env), "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(30, proc.kill)  # it stops by itself whatever happens
    watchdog.start()
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        found = re.search(r" on http://127\.0\.0\.1:(\d+)/ ", first)
        if found is None:  # it did not start: its exit code is the documented one, or not
            return proc.wait(timeout=30), first + proc.stderr.read()
        conn = http.client.HTTPConnection("127.0.0.1", int(found[1]), timeout=10)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        expected = SERVERS[command.argv[0]]
        assert resp.status == expected, f"{command.where}: GET / gave {resp.status}"
        assert b"<html" in body.lower(), f"{command.where}: GET / is not a page"
        proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=30), first + proc.stderr.read()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder as a user has it: the runbooks and pyproject.toml (base URL)."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_command_shown_runs(
    doc: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for step in _steps(doc):
        if isinstance(step, WriteFile):
            target = scratch / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        if not step.run:
            _check_against_help(step)
            continue
        if step.argv[:1] and step.argv[0] in SERVERS:
            code, err = _run_serve(step)
        else:
            code, err = _run_in_process(step, capsys)
        shown = "calgen " + " ".join(shlex.quote(a) for a in step.argv)
        assert code == step.exit, f"{step.where}: `{shown}` exited {code}, not {step.exit}:\n{err}"
        assert "Traceback" not in err, f"{step.where}: `{shown}`:\n{err}"


def test_every_command_of_the_program_is_shown_running() -> None:
    shown = {
        c.argv[0]
        for doc in DOCS
        for c in _commands(doc)
        if c.run and c.argv and not c.argv[0].startswith("-")
    }
    assert _subcommands() - shown == set()


def _readme_command_list() -> dict[str, str]:
    """The README's `## Commands` list: command name → its synopsis."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^- `calgen ([a-z][a-z-]*)( [^`]*)?`", section, re.MULTILINE)
    return {name: synopsis for name, synopsis in found}


def test_readme_command_list_is_the_program_s() -> None:
    listed = _readme_command_list()
    assert set(listed) == _subcommands()
    for name, synopsis in listed.items():
        assert _options(synopsis) == _options(_help(name)), f"calgen {name}: {synopsis}"


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200


def test_ci_runs_the_readme_test_command() -> None:
    readme = [b.lines for b in _blocks(ROOT / "README.md")][:2]
    build, tests = (lines[0] for lines in readme)
    assert "pip install -c constraints.txt ." in build
    assert "-c constraints.txt -e '.[test,dev]'" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in [line.strip() for line in ci]


MODULE_PATH = re.compile(r"\bcalgen/[\w/]*\.py\b|(?<![\w/-])calgen\.[a-z_]+(?:\.[a-z_]+)*\b")


@pytest.mark.parametrize("doc", LINKED, ids=[str(d.relative_to(ROOT)) for d in LINKED])
def test_no_module_paths(doc: Path) -> None:
    """The package tree is reorganised; the docs speak of commands and behaviour."""
    assert MODULE_PATH.findall(doc.read_text(encoding="utf-8")) == []


def _prose(doc: Path) -> str:
    """The document without fenced blocks and code spans."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    fenced = {n for b in _blocks(doc) for n in range(b.line - 1, b.line + len(b.lines) + 1)}
    text = "\n".join(line for n, line in enumerate(lines) if n not in fenced)
    return re.sub(r"(`+).*?\1", "", text, flags=re.DOTALL)


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, blanks as dashes."""
    seen: dict[str, int] = {}
    out = set()
    fenced = {n for b in _blocks(doc) for n in range(b.line - 1, b.line + len(b.lines) + 1)}
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines()):
        heading = re.match(r"^#{1,6} +(.*?) *#*$", line)
        if heading and n not in fenced:
            slug = re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            out.add(slug if count == 0 else f"{slug}-{count}")
    return out


@pytest.mark.parametrize("doc", LINKED, ids=[str(d.relative_to(ROOT)) for d in LINKED])
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:: not checked offline
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not linked.exists():
            broken.append(target)
            continue
        if anchor and (linked.suffix != ".md" or anchor not in _anchors(linked)):
            broken.append(target)
    assert broken == []


def test_the_parser_finds_what_the_docs_show() -> None:
    """A guard on this file itself: the forms it must recognise are recognised."""
    block = Block(
        doc=ROOT / "README.md",
        line=1,
        lang="sh",
        lines=(
            "python3 -m venv .venv && .venv/bin/calgen build   # comment",
            "calgen new-release a.yaml \\",
            '    --go-live "2027-04-05 13:00" --out b.yaml   # exit 1: kept sentences',
            "SOURCE_DATE_EPOCH=1 python -m calgen schema > x.json",
            "nginx -t && systemctl reload nginx",
        ),
        file=None,
    )
    found = [
        c
        for n, line in _logical_lines(block)
        for c in _command(f"x:{n}", *_split_comment(line), run=True)
    ]
    assert [(c.argv, c.exit, c.stdout, c.env) for c in found] == [
        (("build",), 0, None, ()),
        (
            ("new-release", "a.yaml", "--go-live", "2027-04-05 13:00", "--out", "b.yaml"),
            1,
            None,
            (),
        ),
        (("schema",), 0, "x.json", (("SOURCE_DATE_EPOCH", "1"),)),
    ]
    assert [c.where for c in found] == ["x:2", "x:3", "x:5"]
