"""A failed job says what failed: its traceback from its ``Traceback`` line (not the log's last lines, which start
mid-traceback after a chatty job), tusk's own runner frames left out, the user's frames and the exception kept; in
the terminal and on the run page."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from train_fixtures import TrainProject, make_project
from tusk.train.logs import failure_tail
from web_client import client, wait

CHATTY = textwrap.dedent("""
    def _check(rows):
        if len(rows) < 100:
            raise ValueError(f"too few rows: {len(rows)}")

    def _fit(df):
        _check(df)

    def train(ctx):
        for i in range(60):
            print(f"epoch {i}: loss 0.{i:02d}")
        try:
            _fit(ctx.inputs["examples"])
        except ValueError as exc:
            raise RuntimeError("fitting failed") from exc
        return {"accuracy": 1.0}
""")

RUNNER = "/usr/lib/python3/site-packages/tusk"


def _log(*lines: str) -> str:
    return "\n".join(lines)


def test_the_tail_starts_at_the_traceback_without_the_runners_frames() -> None:
    log = _log(
        "[tusk] attempt 1 started",
        *(f"epoch {i}" for i in range(50)),
        "Traceback (most recent call last):",
        f'  File "{RUNNER}/execute/worker.py", line 83, in _call',
        '    return ("ok", getattr(import_module(module_name), name)(payload), "")',
        "                  ^^^^^^^^^^^^^^^^^^^^",
        f'  File "{RUNNER}/job/run.py", line 136, in _call_train',
        "    returned = function(ctx)",
        '  File "/home/ann/proj/models/m.py", line 9, in train',
        "    _fit(df)",
        '  File "/home/ann/proj/models/lib.py", line 3, in _fit',
        '    raise ValueError("bad")',
        "ValueError: bad",
        "[tusk] attempt 1 failed: ValueError: bad",
        "[tusk] job failed: ValueError: bad",
    )
    assert failure_tail(log) == _log(
        "Traceback (most recent call last):",
        '  File "/home/ann/proj/models/m.py", line 9, in train',
        "    _fit(df)",
        '  File "/home/ann/proj/models/lib.py", line 3, in _fit',
        '    raise ValueError("bad")',
        "ValueError: bad",
    )
    # a failure inside tusk's runner itself keeps its frames (they are what failed); no traceback: the last lines
    own = _log(
        "Traceback (most recent call last):",
        f'  File "{RUNNER}/job/run.py", line 40, in run_job',
        "    x()",
        "KeyError: 'x'",
    )
    assert failure_tail(own) == own
    assert failure_tail(_log(*(f"line {i}" for i in range(30))), lines=3) == "line 27\nline 28\nline 29"
    # the last attempt's traceback, not the first's; a very deep one keeps its top line and its bottom
    two = failure_tail(
        _log(
            "Traceback (most recent call last):",
            "OSError: first",
            "Traceback (most recent call last):",
            "OSError: second",
        )
    )
    assert two == "Traceback (most recent call last):\nOSError: second"
    deep = failure_tail(
        _log(
            "Traceback (most recent call last):",
            *(f'  File "/p/m.py", line {i}, in f\n    f()' for i in range(100)),
            "RecursionError: deep",
        )
    )
    assert deep.splitlines()[:2] == ["Traceback (most recent call last):", "  …"] and deep.endswith(
        "RecursionError: deep"
    )
    assert len(deep.splitlines()) == 40


def _chatty(tmp_path: Path) -> TrainProject:
    project = make_project(tmp_path, customers=1, per_customer=4, resources="resources = { retries = 0 }")
    (project.root / "models" / "m.py").write_text(CHATTY)
    return project


def _shown(tail: str) -> None:
    assert tail.startswith("Traceback (most recent call last):"), tail
    assert "worker.py" not in tail and "run_job" not in tail and "_call_train" not in tail
    assert "in train" in tail and "in _fit" in tail and "in _check" in tail  # the user's frames, chain and all
    assert "ValueError: too few rows: 4" in tail and "The above exception was the direct cause" in tail
    assert tail.rstrip().endswith("RuntimeError: fitting failed") and "epoch" not in tail


def test_the_terminal_shows_the_failures_traceback(tmp_path: Path) -> None:
    project = _chatty(tmp_path)
    result = project.tusk("run", code=3)
    said = result.stderr
    assert "failed m-c0: RuntimeError: fitting failed" in said
    shown = said.split("failed m-c0: RuntimeError: fitting failed\n", 1)[1].split("\nlog: ", 1)[0]
    _shown(shown)


def test_the_run_page_shows_the_failures_traceback(tmp_path: Path) -> None:
    project = _chatty(tmp_path)
    with client(project.root) as web:
        page = web.get("/runs").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        answer = web.post("/runs/start", data={"csrf": csrf})
        ident = re.search(r"Run <code>([^<]+)</code>", answer.text).group(1)  # type: ignore[union-attr]
        final = wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=120,
        )
        assert final["jobs"][0]["status"] == "failed", final
        _shown(final["jobs"][0]["log_tail"])
        html = web.get(f"/run?id={ident}").text
    tail = re.search(r'<pre class="tail">(.*?)</pre>', html, re.S)
    assert tail is not None
    _shown(tail.group(1).replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">"))


def test_the_model_page_shows_the_failures_traceback(tmp_path: Path) -> None:
    """A model whose last job failed: its page shows the cleaned traceback under the error (as the run page does),
    and its JSON carries it; the log below keeps the whole text."""
    from html import unescape

    project = _chatty(tmp_path)
    project.tusk("run", code=3)
    with client(project.root) as web:
        html = web.get("/model?name=m-c0").text
    assert 'id="model-failure"' in html and "RuntimeError: fitting failed" in html
    tail = re.search(r'<pre class="log" id="model-failure-tail">(.*?)</pre>', html, re.S)
    assert tail is not None, "the page shows the failure's traceback"
    _shown(unescape(tail.group(1)))
    from tusk import Project

    with Project.open(project.root / "tusk.toml") as opened:
        page = opened.model_page("m-c0")
    _shown(page.to_json()["failure_tail"])
    assert "epoch 59" in page.log, "the job's whole log stays below"
