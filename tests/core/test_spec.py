"""Matrix expansion, safe names, shards and promotion rules: the pure core, no I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from tusk.core.config import Config, ModelSpec
from tusk.core.promote import moved_to, pushed, rollback_target, should_promote
from tusk.core.spec import CodeHasher, expand, parse_shard, placeholders, safe_name, select, shard_of
from tusk.errors import ConfigError


def _config(tmp_path: Path, *models: dict) -> Config:
    (tmp_path / "m.py").write_text("def train(ctx):\n    return {}\n")
    return Config(root=tmp_path, path=tmp_path / "tusk.toml", models=[ModelSpec(**m) for m in models])


def test_safe_names_are_readable_and_deterministic() -> None:
    assert safe_name("Acme Corp/EU") == "Acme-Corp-EU"
    assert safe_name('café, "quoted"') == "cafe-quoted"
    assert safe_name("日本") == safe_name("日本")
    assert safe_name("日本").startswith("x") and safe_name("日本") != safe_name("中国")


def test_matrix_values_bind_into_inputs_and_params(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {
            "name": "m-{customer}-{lang}",
            "train": "m.py:train",
            "params": {"C": 1.0, "lang": "x"},
            "matrix": {"customer": "SELECT 1", "lang": ["en", "de"]},
            "inputs": {"rows": "SELECT * FROM t WHERE c = :customer AND l = :lang"},
        },
    )
    instances = expand(config, lambda sql: ["acme", "Big Co"])
    assert [i.name for i in instances] == ["m-acme-en", "m-acme-de", "m-Big-Co-en", "m-Big-Co-de"]
    first = instances[0]
    assert first.params == {"C": 1.0, "lang": "en", "customer": "acme"}
    assert first.inputs["rows"].bound == {"customer": "acme", "lang": "en"}
    assert first.code_files == {"m.py": CodeHasher(tmp_path).files(config.models[0])["m.py"]}


def test_colliding_names_are_an_error_naming_both_values(tmp_path: Path) -> None:
    config = _config(tmp_path, {"name": "m-{c}", "train": "m.py:train", "matrix": {"c": ["a b", "a/b"]}})
    with pytest.raises(ConfigError, match=r"'m-a-b' is produced twice.*'a b'.*'a/b'"):
        expand(config, lambda sql: [])


def test_template_and_placeholder_errors_name_the_model(tmp_path: Path) -> None:
    missing = _config(tmp_path, {"name": "m-{customer}", "train": "m.py:train"})
    with pytest.raises(ConfigError, match=r"model 'm-\{customer\}'.*no key 'customer'"):
        expand(missing, lambda sql: [])
    unused = _config(tmp_path, {"name": "m", "train": "m.py:train", "matrix": {"c": ["a"]}})
    with pytest.raises(ConfigError, match="matrix key 'c' is not in the name"):
        expand(unused, lambda sql: [])
    unbound = _config(tmp_path, {"name": "m", "train": "m.py:train", "inputs": {"x": "SELECT :nope"}})
    with pytest.raises(ConfigError, match=r"inputs.x uses :nope"):
        expand(unbound, lambda sql: [])


def test_missing_code_file_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, {"name": "m", "train": "gone.py:train"})
    with pytest.raises(ConfigError, match="gone.py"):
        expand(config, lambda sql: [])


def test_placeholders_ignore_casts_and_strings_shape() -> None:
    assert placeholders("SELECT a::int FROM t WHERE c = :customer AND d = :day") == ["customer", "day"]


def test_shards_cover_every_instance_exactly_once() -> None:
    names = [f"m-{i}" for i in range(500)]
    slices = [select(names, shard=(i, 7)) for i in range(1, 8)]
    assert sorted(n for s in slices for n in s) == sorted(names)
    assert all(slices), "every shard gets some of 500 instances"
    assert shard_of("m-1", 7) == shard_of("m-1", 7)
    assert select(names, only="m-4?") == [f"m-4{i}" for i in range(10)]


@pytest.mark.parametrize("bad", ["0/3", "4/3", "x", "1-3", ""])
def test_bad_shards_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(bad)


def test_promote_if() -> None:
    assert should_promote(None, {})
    assert should_promote("accuracy >= 0.8 and n > 10", {"accuracy": 0.9, "n": 11})
    assert not should_promote("accuracy >= 0.8", {"accuracy": 0.5})
    assert not should_promote("accuracy >= 0.8", {})  # a metric not reported never promotes
    assert should_promote("0.5 < accuracy < 1", {"accuracy": 0.7})
    with pytest.raises(ConfigError):
        should_promote("__import__('os').system('true')", {})


def test_bad_promote_if_names_file_and_model(tmp_path: Path) -> None:
    from tusk.core.config import load_config

    path = tmp_path / "tusk.toml"
    path.write_text('[[models]]\nname = "m"\ntrain = "m.py:train"\npromote_if = "open(1)"\n')
    with pytest.raises(ConfigError, match=r"tusk.toml: model 'm' \(\[\[models\]\] #1\): .*Call is not allowed"):
        load_config(path)


def test_production_history_rules() -> None:
    """Pure rules of the production history (a stack, oldest first), whatever tracker keeps it."""
    assert pushed(["1", "2"], "3") == ["1", "2", "3"] and len(pushed([str(i) for i in range(60)], "x")) == 50
    assert moved_to(["1", "2", "3"], "2") == ["1", "2"], "back to a version in it: what came after is popped"
    assert moved_to(["1", "2"], "5") == ["1", "2", "5"]
    assert rollback_target(["1", "2", "3"], "3") == ("2", ["1", "2"])
    assert rollback_target(["1", "2"], "2") == ("1", ["1"])
    assert rollback_target(["1"], "1") == ("1", ["1"]), "nothing earlier: production stays"
    assert rollback_target([], None) == (None, [])
    assert rollback_target(["1", "2", "3"], "3", to="1") == ("1", ["1", "2", "1"])
    assert rollback_target(["1", "3", "3"], "3") == ("1", ["1"]), "a version promoted twice in a row is one step"
