"""``tusk release create --no-build`` with N production models (goal for 1000: <= 2 s), and the image build
of N small model folders with buildah (reported), against the time of two registry queries in the same run.

    python benchmarks/bench_release.py [N]     (default 1000)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def register(root: Path, n: int, fingerprint: str = "f") -> None:
    """N registered instances with a production version each, recorded as tusk records them."""
    from train_fixtures import register_instances

    register_instances(root, [f"m-c{i:04d}" for i in range(n)], fingerprint)


def timed(root: Path, *args: str) -> tuple[float, dict]:
    exe = Path(sys.executable).with_name("tusk")
    started = time.perf_counter()
    out = subprocess.run(
        [str(exe), "-C", str(root), *args, "--json"], check=True, env=env(), capture_output=True, text=True
    ).stdout
    return time.perf_counter() - started, json.loads(out)


def main(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-release-"))
    try:
        root = work / "proj"
        subprocess.run(
            [str(Path(sys.executable).with_name("tusk")), "init", str(root)], check=True, env=env(), capture_output=True
        )
        config = (root / "tusk.toml").read_text().replace('base_image = "python:3.11-slim"', 'base_image = "scratch"')
        (root / "tusk.toml").write_text(config)
        register(root, n)
        baseline, _ = timed(root, "models", "list")  # the same process start and registry reads
        seconds, release = timed(root, "release", "create", "--no-build")
        assert len(release["models"]) == n
        print(
            f"| release create --no-build, {n} models | {seconds:.2f} s | `tusk models list` {baseline:.2f} s "
            f"| ratio {seconds / baseline:.2f} |"
        )
        if shutil.which("buildah"):
            subprocess.run(
                [
                    str(Path(sys.executable).with_name("tusk")),
                    "-C",
                    str(root),
                    "models",
                    "rollback",
                    "m-c0000",
                    "--to",
                    "1",
                ],
                env=env(),
                capture_output=True,
            )
            (root / "tusk.toml").write_text(config + "\n")
            # a different manifest is needed for a new release: retrain one instance's version
            register(root, 1, fingerprint="g")
            build_seconds, built = timed(root, "release", "create")
            print(
                f"| image build of {n} model folders (buildah, vfs, FROM scratch) | {build_seconds:.1f} s "
                f"| built: {built['built']} |"
            )
            subprocess.run(["buildah", "--storage-driver", "vfs", "rmi", built["image"]], capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
