"""The model pool: loaded on first use, once however many ask at once, kept within a budget (least recently used
leaving first), and a model that fails to load fails its own requests only (and is tried again later)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tusk.serve.pool import LoadFailed, ModelPool


def models(tmp_path: Path, sizes: dict[str, int]) -> dict[str, Path]:
    folders = {}
    for name, size in sizes.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "weights.bin").write_bytes(b"w" * size)
        folders[name] = folder
    return folders


def test_loaded_once_and_the_least_recently_used_leaves_first(tmp_path: Path) -> None:
    folders = models(tmp_path, {"a": 400, "b": 400, "c": 400})
    loaded: list[str] = []

    def load(folder: Path) -> str:
        loaded.append(folder.name)
        return f"model {folder.name}"

    pool = ModelPool(lambda name, version: folders[name], budget=1000, load=load)
    assert pool.get(("a", "1")) == "model a" and pool.get(("a", "1")) == "model a"
    pool.get(("b", "1"))
    pool.get(("a", "1"))  # a is now the most recently used
    pool.get(("c", "1"))  # over 1000 bytes: b leaves, not a
    assert pool.held() == [("a", "1"), ("c", "1")] and pool.used() == 800
    assert loaded == ["a", "b", "c"] and pool.evictions == 1
    pool.get(("b", "1"))
    assert loaded == ["a", "b", "c", "b"] and ("a", "1") not in pool.held()


def test_a_model_over_the_budget_alone_still_serves(tmp_path: Path) -> None:
    folders = models(tmp_path, {"big": 5000})
    pool = ModelPool(lambda name, version: folders[name], budget=1000, load=lambda folder: folder.name)
    assert pool.get(("big", "1")) == "big" and pool.held() == [("big", "1")]


def test_many_asking_at_once_load_it_once(tmp_path: Path) -> None:
    folders = models(tmp_path, {"a": 10})
    calls: list[int] = []
    gate = threading.Event()

    def load(folder: Path) -> object:
        calls.append(1)
        gate.wait(5)
        return object()

    pool = ModelPool(lambda name, version: folders[name], load=load)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(pool.get(("a", "1")))) for _ in range(8)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(got) == 8 and len({id(m) for m in got}) == 1


def test_a_model_that_fails_to_load_fails_only_its_requests_and_is_tried_again(tmp_path: Path) -> None:
    folders = models(tmp_path, {"good": 10})

    def files(name: str, version: str) -> Path:
        if name not in folders:
            raise FileNotFoundError(f"no files for {name}")
        return folders[name]

    pool = ModelPool(files, load=lambda folder: folder.name, retry=0.0)
    with pytest.raises(LoadFailed, match=r"^gone v2 failed to load: FileNotFoundError: no files for gone$"):
        pool.get(("gone", "2"))
    assert pool.failure(("gone", "2")) and pool.get(("good", "1")) == "good"
    folders["gone"] = folders["good"]
    assert pool.get(("gone", "2")) == "good" and pool.failure(("gone", "2")) is None, "tried again, and it loads"


def test_keep_only_forgets_what_a_new_release_no_longer_serves(tmp_path: Path) -> None:
    folders = models(tmp_path, {"a": 10, "b": 10})
    pool = ModelPool(lambda name, version: folders[name], load=lambda folder: folder.name)
    pool.get(("a", "1"))
    pool.get(("b", "1"))
    pool.keep_only({("b", "1")})
    assert pool.held() == [("b", "1")]
