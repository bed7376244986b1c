"""The analyst → reviewer flow in a real browser (Debian's chromium through Playwright; no browser download)
against a real ``tusk ui`` on a free loopback port: open the review, see the changed cell and the blast
radius, approve one model's rows only, merge the rest, start a run and watch it finish, see the new version,
create a release and roll it back. Screenshots of each page go to build/test-artifacts/ui/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import make_project, rows
from tusk._internal.sqlite import child_env

pytestmark = pytest.mark.slow
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TUSK_TEST_ARTIFACTS", Path(__file__).parents[2] / "build" / "test-artifacts")) / "ui"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "tusk"), "-C", str(root), "ui", "--port", str(port)],
        env=child_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=(root / "ui.log").open("wb"),
    )
    deadline = time.monotonic() + 300  # tusk ui imports starlette and uvicorn: slow on a loaded machine
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    raise AssertionError(f"tusk ui did not start: {(root / 'ui.log').read_text()[-500:]}")


def browser(playwright: Any) -> Any:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/install adds it)")
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=ARGS)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_analyst_to_reviewer_in_the_browser(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    project = make_project(tmp_path, customers=20, per_customer=3)
    project.run()
    project.tusk("release", "create", "--no-build")
    data = rows(20, 3)
    for row in data:
        if row[1] in ("c3", "c7"):
            row[3] = "relabelled"
    project.import_rows(data, branch="relabel", message="relabel c3 and c7")
    project.tusk(
        "review",
        "edit",
        "relabel",
        "--title",
        "Relabel c3 and c7",
        "--description",
        "The labels of c3 and c7 were swapped in the sheet.",
    )
    server, base = serve(project.root)
    try:
        with sync_api.sync_playwright() as playwright:
            chrome = browser(playwright)
            page = chrome.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(180_000)  # Playwright's 30 s is short for a page of a loaded machine
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(base + "/")
            shot(page, "home")
            page.click("text=Relabel c3 and c7")
            page.wait_for_selector("#impact .radius", timeout=180_000)
            assert page.inner_text("#impact .radius") == "merging retrains 2 of 20"
            changed = page.locator("td.changed ins").first
            assert changed.inner_text() == "relabelled"
            assert page.locator("td.changed del").first.inner_text() != "relabelled"
            shot(page, "review")

            page.check("input[name=model][value=m-c3]")  # accept c3's rows only
            page.click("text=approve the ticked models' rows")
            page.wait_for_selector("p.flash")
            assert "approved relabel for m-c3" in page.inner_text("p.flash")
            page.wait_for_selector("#impact .radius", timeout=180_000)
            assert page.inner_text("#impact .radius") == "merging retrains 1 of 20"
            assert "approved the rows feeding m-c3" in page.inner_text("ol.comments")
            # m-c3's rows are on main now as on the branch: the change lists c7's only, and can list them all
            assert "3 changed rows are on main already" in page.inner_text("p.landed")
            assert page.locator("table.diff tbody tr").count() == 3
            assert set(page.locator("table.diff tbody tr td:nth-child(3)").all_inner_texts()) == {"c7"}
            shot(page, "review-approved")
            # links: the click starts a navigation and returns; expect() waits for the new page's rows
            page.click("text=list them too")
            sync_api.expect(page.locator("table.diff tbody tr")).to_have_count(6, timeout=60_000)
            page.click("text=leave them out")
            sync_api.expect(page.locator("table.diff tbody tr")).to_have_count(3, timeout=60_000)
            page.wait_for_selector("#impact .radius", timeout=180_000)

            page.click("text=merge relabel into main")
            page.wait_for_selector("p.flash")
            assert "merged relabel into main" in page.inner_text("p.flash")

            page.goto(base + "/runs")
            page.click("text=start a run")
            page.wait_for_selector("#run-status")
            ended = ", ".join(f"#run-status.{s}" for s in ("succeeded", "failed", "cancelled", "refused", "died"))
            page.wait_for_selector(ended, timeout=180_000)  # the page polls the run's progress by itself
            assert page.inner_text("#run-status") == "succeeded", page.inner_text("main")
            assert page.locator("tr[data-job]").count() == 2
            shot(page, "run")

            page.goto(base + "/model?name=m-c3")
            assert "v2" in page.inner_text("table.grid")
            assert "production v2" in page.inner_text("main").replace("\n", " ")
            shot(page, "model")
            page.goto(base + "/models?sort=trained&dir=desc")
            shot(page, "models")
            page.goto(base + "/models")  # by name: the rows first, the counts per status loaded after them
            page.wait_for_selector("div.counts a.badge.fresh")
            assert "m-c3" in page.inner_text("table.grid")

            page.goto(base + "/releases")
            page.click("text=create a release")
            page.wait_for_selector("p.flash")
            assert "created v2" in page.inner_text("p.flash")
            page.goto(base + "/releases")
            shot(page, "releases")
            page.click("text=roll back…")
            page.click("text=Yes, make v1 current")
            page.wait_for_selector("p.flash")
            assert "current release: v1" in page.inner_text("p.flash")
            page.goto(base + "/data/log")
            shot(page, "data-log")
            chrome.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    current = project.json("release", "current")
    assert current["version"] == "1"
    models = {m["name"]: m for m in project.json("models", "list")["models"]}
    assert models["m-c3"]["production"] == "1" and models["m-c3"]["version"] == "2"  # release v1 holds v1
    log = (project.root / ".tusk" / "ui-actions.log").read_text()
    for action in ("review approve", "review merge", "run start", "release create", "release rollback"):
        assert f'"action": "{action}"' in log


# every word of these elements stays whole: a word (up to 30 characters; longer tokens such as hashes may wrap)
# whose letters lie on two lines is broken mid-word
BROKEN_WORDS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.querySelector("main") || document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent;
    for (const found of text.matchAll(/\\S+/g)) {
      if (found[0].length < 2 || found[0].length > 30) continue;
      range.setStart(node, found.index); range.setEnd(node, found.index + found[0].length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) broken.push(found[0]);
    }
  }
  return broken.slice(0, 10);
}"""


def test_every_page_fits_a_phone_and_keeps_its_words_whole(tmp_path: Path) -> None:
    """At 390 px no page scrolls sideways (wide tables scroll inside their own box); at 390 and 1280 px no word
    breaks mid-word. Screenshots: phone-*.png and wide-*.png."""
    sync_api = pytest.importorskip("playwright.sync_api")
    project = make_project(tmp_path, customers=6, per_customer=3)
    project.run()
    project.tusk("release", "create", "--no-build")
    data = rows(6, 3)
    data[1][3] = "relabelled"
    project.import_rows(data, branch="relabel", message="relabel one row of c1")
    project.tusk("review", "edit", "relabel", "--title", "Relabel a row of c1 with a rather long title to wrap")
    data = rows(6, 3)
    data[2][3] = "merged_label"
    project.import_rows(data, branch="done", message="relabel c2")
    project.tusk("data", "merge", "done", "-m", "merge done")
    server, base = serve(project.root)
    try:
        with sync_api.sync_playwright() as playwright:
            chrome = browser(playwright)
            phone = chrome.new_page(viewport={"width": 390, "height": 844})
            wide = chrome.new_page(viewport={"width": 1280, "height": 900})
            for page in (phone, wide):
                page.set_default_timeout(180_000)
            todo = ["/", "/reviews", "/reviews?status=all", "/review?branch=relabel", "/review?branch=done"]
            todo += ["/review/impact?branch=relabel", "/models", "/runs", "/releases", "/data", "/data/log"]
            todo.insert(0, "/review?branch=nothing-here")  # an error page
            todo += ["/propose"]
            seen: set[str] = set()
            per_path: dict[str, int] = {}
            problems: list[str] = []
            while todo and len(seen) < 30:
                path = todo.pop(0)
                bare = path.split("?")[0]
                if path in seen or per_path.get(bare, 0) >= 2 or bare.startswith(("/static", "/logout")):
                    continue
                seen.add(path)
                per_path[bare] = per_path.get(bare, 0) + 1
                for page, size in ((phone, 390), (wide, 1280)):
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    if page.locator("#impact").count():  # the blast radius, loaded after the page
                        page.wait_for_selector("#impact .radius, #impact h2", timeout=180_000)
                    width = page.evaluate("document.documentElement.scrollWidth")
                    if size == 390 and width > 390:
                        problems.append(f"{path} is {width} px wide at 390 px")
                    broken = page.evaluate(BROKEN_WORDS)
                    if broken:
                        problems.append(f"{path} at {size} px breaks words mid-word: {broken}")
                    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
                    shot(page, f"{'phone' if size == 390 else 'wide'}-{name}")
                hrefs = phone.eval_on_selector_all("a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
                todo += [h.split("#")[0] for h in hrefs if h.split("#")[0] not in seen]
            assert len(seen) >= 15, seen
            assert not problems, "\n".join(problems)
            chrome.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
