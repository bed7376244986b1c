"""The README's quick start: exactly its two commands (its first block), and a pointer to the screenshot of the
review page the demo leaves open (a PNG in the repository, small enough to keep there)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_quick_start_has_two_commands_and_points_at_the_review_page_screenshot() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    lines = quick.strip("\n").splitlines()
    commands = [line.strip() for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("    "))]]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]
    linked = re.findall(r"\]\((docs/images/[^)]+\.png)\)", quick)
    assert linked == ["docs/images/review-page.png"]
    image = ROOT / linked[0]
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size < 300 * 1024
