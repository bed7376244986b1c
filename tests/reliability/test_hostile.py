"""The hostile-input corpus: bad files, ``tusk.toml`` mistakes, hostile names and values, misbehaving train
functions. Each case is refused with one line (exit 1; a failed job is exit 3 with a one-line error) and
leaves the data (every branch head and tag), the registry and the releases exactly as they were.

One project serves every case: data on main, two trained instances, a release. A case writes its file or
its ``tusk.toml`` into the project; the fixture puts ``tusk.toml`` and the models back after it.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import TrainProject, make_project

pytestmark = pytest.mark.slow

HEADER = "id,customer,text,label\n"
GOOD_ROW = "1,c0,hello,l0\n"


@dataclass
class Case:
    id: str
    args: list[str]  # tusk arguments; {dir} is the case's scratch folder
    files: dict[str, bytes | str | Callable[[Path], None]] = field(default_factory=dict)  # written into {dir}
    toml: str | None = None  # replaces the [[models]] part of tusk.toml
    code_files: dict[str, str] = field(default_factory=dict)  # written under models/
    exit_code: int = 1
    says: str = ""  # a part of the one line
    settings: tuple[str, str] | None = None  # (text, replacement) in the part of tusk.toml before [[models]]


def _csv(body: str) -> bytes:
    return (HEADER + body).encode()


def _xlsx(path: Path, cells: dict[str, Any]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for ref, value in cells.items():
        sheet[ref] = value
    book.save(path)


def _zip_bomb(path: Path) -> None:
    """An XLSX whose sheet declares 4 GiB unpacked (a bomb is refused from its directory, before reading)."""
    _xlsx(path, {"A1": "id", "B1": "customer", "A2": 1, "B2": "c0"})
    data = path.read_bytes()
    marker = b"xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        size = archive.getinfo(marker.decode()).file_size
    central = data.rindex(b"PK\x01\x02", 0, data.index(marker, data.index(b"PK\x01\x02")) + 1)
    declared = central + 24  # uncompressed size in the central directory entry
    assert int.from_bytes(data[declared : declared + 4], "little") == size
    path.write_bytes(data[:declared] + (0xFFFFFFF0).to_bytes(4, "little") + data[declared + 4 :])


def _parquet(path: Path, columns: int = 3, rows: int = 2) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({f"c{i}": list(range(rows)) for i in range(columns)}), path)


def _wide_parquet(path: Path) -> None:
    _parquet(path, columns=2000, rows=1)


def _rle_bomb_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array([1] * 3_000_000, pa.int64()),
            "customer": pa.array(["c"] * 3_000_000),
            "text": pa.array(["t"] * 3_000_000),
            "label": pa.array(["l"] * 3_000_000),
            "x": pa.array([0] * 3_000_000),
            "y": pa.array([0] * 3_000_000),
            "z": pa.array([0] * 3_000_000),
        }
    )
    pq.write_table(table, path, compression="zstd")


IMPORT = ["data", "import"]
EX = ["--table", "examples", "--key", "id"]

FILE_CASES = [
    Case("ragged-row", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": _csv("9,c0,a,b\n10,c0,a,b,EXTRA\n")}, says="row 3"),
    Case("ragged-tsv", [*IMPORT, "{dir}/f.tsv", *EX], {"f.tsv": b"id\tcustomer\ttext\tlabel\n9\tc0\ta\n"}),
    Case("bad-quotes", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": _csv('9,c0,"unterminated,l0\n10,c0,x,l0\n')}),
    Case(
        "nul-byte", [*IMPORT, "{dir}/f.csv", *EX, "--mode", "upsert"], {"f.csv": _csv("9,c0,a\x00b,l0\n")}, says="NUL"
    ),
    Case("nul-in-header", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": b"id,cust\x00omer,text,label\n1,c0,a,l0\n"}),
    Case(
        "invalid-utf8",  # not UTF-8 when UTF-8 is asked for (without --encoding, it is read as cp1252)
        [*IMPORT, "{dir}/f.csv", *EX, "--encoding", "utf-8"],
        {"f.csv": HEADER.encode() + b"9,c0,caf\xe9\xff,l0\n"},
        says="not utf-8",
    ),
    Case("utf16-bom", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": (HEADER + GOOD_ROW).encode("utf-16")}),
    Case("bom-only", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": b"\xef\xbb\xbf"}),
    Case("empty", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": b""}, says="empty"),
    Case("header-only-replace", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": HEADER.encode()}, says="--allow-empty"),
    Case(
        "header-only-xlsx",
        [*IMPORT, "{dir}/f.xlsx", *EX],
        {"f.xlsx": lambda p: _xlsx(p, {"A1": "id", "B1": "customer", "C1": "text", "D1": "label"})},
        says="--allow-empty",
    ),
    Case("duplicate-columns", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": b"id,text,text,label\n1,a,b,c\n"}, says="twice"),
    Case("duplicate-keys", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": _csv("9,c0,a,l0\n9,c0,b,l0\n")}),
    Case("empty-key", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": _csv("9,c0,a,l0\n,c0,b,l0\n")}),
    Case("blank-key", [*IMPORT, "{dir}/f.csv", *EX, "--mode", "upsert"], {"f.csv": _csv("   ,c0,a,l0\n")}),
    Case(
        "ten-megabyte-cell",
        [*IMPORT, "{dir}/f.csv", *EX, "--mode", "upsert"],
        {"f.csv": _csv("9,c0," + "x" * 10_000_000 + ",l0\n")},
        says="characters",
    ),
    Case(
        "two-thousand-columns",
        [*IMPORT, "{dir}/f.csv", "--table", "wide", "--key", "c0"],
        {"f.csv": (",".join(f"c{i}" for i in range(2000)) + "\n" + ",".join("1" for _ in range(2000)) + "\n").encode()},
        says="columns",
    ),
    Case(
        "sql-in-column",
        [*IMPORT, "{dir}/f.csv", *EX],
        {"f.csv": b'id,customer,text,"label; DROP TABLE examples; --"\n1,c0,a,l0\n'},
    ),
    Case(
        "sql-in-table",
        [*IMPORT, "{dir}/f.csv", "--table", "x; DROP TABLE examples", "--key", "id"],
        {"f.csv": _csv(GOOD_ROW)},
    ),
    Case("dolt-table", [*IMPORT, "{dir}/f.csv", "--table", "dolt_log", "--key", "id"], {"f.csv": _csv(GOOD_ROW)}),
    Case("digit-table", [*IMPORT, "{dir}/f.csv", "--table", "1abc", "--key", "id"], {"f.csv": _csv(GOOD_ROW)}),
    Case("unknown-column", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": b"id,customer,text,label,mood\n1,c0,a,l0,x\n"}),
    Case("missing-column", [*IMPORT, "{dir}/f.csv", *EX], {"f.csv": b"id,customer,text\n1,c0,a\n"}),
    Case("type-mismatch", [*IMPORT, "{dir}/f.csv", *EX, "--mode", "upsert"], {"f.csv": _csv("ten,c0,a,l0\n")}),
    Case("key-differs", [*IMPORT, "{dir}/f.csv", "--table", "examples", "--key", "text"], {"f.csv": _csv(GOOD_ROW)}),
    Case("append-existing-key", [*IMPORT, "{dir}/f.csv", *EX, "--mode", "append"], {"f.csv": _csv("0,c0,a,l0\n")}),
    Case("new-table-no-key", [*IMPORT, "{dir}/f.csv", "--table", "fresh"], {"f.csv": _csv(GOOD_ROW)}),
    Case("corrupt-xlsx", [*IMPORT, "{dir}/f.xlsx", *EX], {"f.xlsx": b"PK\x03\x04 this is not a workbook"}),
    Case("xlsx-not-zip", [*IMPORT, "{dir}/f.xlsx", *EX], {"f.xlsx": b"id,customer\n1,c0\n"}),
    Case(
        "xlsx-cell-at-XFD1048576",
        [*IMPORT, "{dir}/f.xlsx", *EX],
        {"f.xlsx": lambda p: _xlsx(p, {"A1": "id", "B1": "customer", "C1": "text", "D1": "label", "XFD1048576": "x"})},
        says="beyond the header",
    ),
    Case(
        "xlsx-header-at-XFD1",
        [*IMPORT, "{dir}/f.xlsx", *EX],
        {"f.xlsx": lambda p: _xlsx(p, {"A1": "id", "XFD1": "far"})},
        says="columns",
    ),
    Case("zip-bomb", [*IMPORT, "{dir}/f.xlsx", *EX], {"f.xlsx": _zip_bomb}, says="zip bomb"),
    Case("corrupt-parquet", [*IMPORT, "{dir}/f.parquet", *EX], {"f.parquet": b"PAR1 garbage garbage PAR1"}),
    Case(
        "parquet-2000-columns",
        [*IMPORT, "{dir}/f.parquet", "--table", "wide", "--key", "c0"],
        {"f.parquet": _wide_parquet},
        says="columns",
    ),
    Case("parquet-rle-bomb", [*IMPORT, "{dir}/f.parquet", *EX], {"f.parquet": _rle_bomb_parquet}, says="cells"),
    Case("jsonl-not-json", [*IMPORT, "{dir}/f.jsonl", *EX], {"f.jsonl": b'{"id": 1}\n{not json\n'}),
    Case("jsonl-array", [*IMPORT, "{dir}/f.jsonl", *EX], {"f.jsonl": b"[1, 2, 3]\n"}),
    Case("unknown-extension", [*IMPORT, "{dir}/f.exe", *EX], {"f.exe": b"MZ"}),
    Case("missing-file", [*IMPORT, "{dir}/nope.csv", *EX]),
    Case("directory-as-file", [*IMPORT, "{dir}/d.csv", *EX], {"d.csv/x": b""}),
    Case(
        "key-beyond-64-bits",
        [*IMPORT, "{dir}/f.csv", "--table", "big", "--key", "id"],
        {"f.csv": b"id,v\n99999999999999999999999,1\n"},
        says="does not fit a 64-bit integer",
    ),
    Case(
        "key-beyond-64-bits-upsert",
        [*IMPORT, "{dir}/f.csv", *EX, "--mode", "upsert"],
        {"f.csv": _csv("-9223372036854775809,c0,a,l0\n")},
        says="64-bit",
    ),
    Case(
        "integer-of-5000-digits",
        [*IMPORT, "{dir}/f.csv", *EX, "--mode", "upsert"],
        {"f.csv": _csv("9" * 5000 + ",c0,a,l0\n")},
        says="5,000 digits",
    ),
    Case(
        "jsonl-nested-100k-deep",
        [*IMPORT, "{dir}/f.jsonl", *EX],
        {"f.jsonl": ('{"id": 1, "text": ' + "[" * 100_000 + "]" * 100_000 + "}\n").encode()},
        says="nested",
    ),
    Case(
        "jsonl-integer-of-5000-digits",
        [*IMPORT, "{dir}/f.jsonl", *EX],
        {"f.jsonl": ('{"id": ' + "9" * 5000 + ', "customer": "c0"}\n').encode()},
        says="line 1",
    ),
    Case(
        "jsonl-key-beyond-64-bits",
        [*IMPORT, "{dir}/f.jsonl", *EX, "--mode", "upsert"],
        {"f.jsonl": b'{"id": 99999999999999999999999, "customer": "c0", "text": "a", "label": "l0"}\n'},
        says="64-bit",
    ),
]


def _symlink(path: Path) -> None:
    path.with_name("target.csv").write_text("keep me\n")
    path.symlink_to(path.with_name("target.csv"))


def _fifo(path: Path) -> None:
    import os

    os.mkfifo(path)


EXPORT = ["data", "export", "examples", "-o"]
OUTPUT_CASES = [  # nothing is written, and what was there stays as it was (test_export_... below checks the files)
    Case("export-to-symlink", [*EXPORT, "{dir}/link.csv"], {"link.csv": _symlink}, says="symbolic link"),
    Case("export-to-fifo", [*EXPORT, "{dir}/pipe.csv"], {"pipe.csv": _fifo}, says="FIFO"),
    Case("export-to-directory", [*EXPORT, "{dir}/d.csv"], {"d.csv/x": b""}, says="directory"),
    Case("export-under-a-file", [*EXPORT, "{dir}/f.csv/out.csv"], {"f.csv": b"x"}, says="cannot write"),
    # what /dev/stdout is (never the real one: the old export replaced it with a file, as root)
    Case(
        "export-to-stdout-link",
        [*EXPORT, "{dir}/stdout"],
        {"stdout": lambda p: p.symlink_to("/proc/self/fd/1")},
        says="symbolic link",
    ),
    Case("ci-output-to-fifo", ["ci", "github", "--output", "{dir}/pipe.yml"], {"pipe.yml": _fifo}, says="FIFO"),
]

REF_CASES = [
    Case(f"branch-{i}", [*IMPORT, "{dir}/f.csv", *EX, "--branch", name], {"f.csv": _csv(GOOD_ROW)})
    for i, name in enumerate(
        [
            "../..",
            "a..b",
            "-rf",
            "; rm -rf /",
            "x/",
            "main^",
            "a b",
            "x" * 300,
            "refs/../x",
            "@{-1}",
            ".hidden",
            "ümlaut",
        ]
    )
] + [
    Case("merge-unknown", ["data", "merge", "no-such-branch"]),
    Case("diff-unknown", ["data", "diff", "main", "no-such-ref"]),
    Case("log-unknown", ["data", "log", "no-such-ref"]),
    Case("plan-at-unknown", ["plan", "--at", "deadbeef0"]),
    Case("sql-syntax", ["data", "sql", "SELEC nonsense"]),
    Case("sql-write", ["data", "sql", "SELECT dolt_gc()"]),
    Case("sql-attach", ["data", "sql", "ATTACH DATABASE '{dir}/x.db' AS x"]),
    Case("branch-delete-main", ["data", "branch", "main", "-d"]),
    Case("release-rollback-unknown", ["release", "rollback", "v999"]),
    Case("models-promote-unknown", ["models", "promote", "m-c0", "999"]),
    Case("models-promote-no-model", ["models", "promote", "no-such-model", "1"]),
]

SPEC = 'train = "models/m.py:train"\ninputs.examples = "SELECT id, text, label FROM examples ORDER BY id"\n'
TOML_CASES = [
    Case("toml-syntax", ["plan"], toml="[[models]\nname = 'x'\n"),
    Case("toml-unknown-key", ["plan"], toml='[[models]]\nname = "x"\nlearning_rate = 3\n' + SPEC),
    Case("toml-wrong-type", ["plan"], toml='[[models]]\nname = "x-{c}"\nmatrix.c = 5\n' + SPEC),
    Case(
        "toml-bad-sql-input",
        ["plan"],
        toml='[[models]]\nname = "x"\ntrain = "models/m.py:train"\ninputs.examples = "SELEKT * FROM examples"\n',
    ),
    Case(
        "toml-bad-sql-matrix",
        ["plan"],
        toml='[[models]]\nname = "x-{c}"\nmatrix.c = "SELECT nope FROM nothing"\n' + SPEC,
    ),
    Case("toml-write-in-matrix", ["plan"], toml='[[models]]\nname = "x-{c}"\nmatrix.c = "SELECT dolt_gc()"\n' + SPEC),
    Case(
        "toml-matrix-of-zero",
        ["plan"],
        toml='[[models]]\nname = "x-{c}"\nmatrix.c = "SELECT customer FROM examples WHERE 0"\n' + SPEC,
        says="no values",
    ),
    Case(
        "toml-matrix-of-100k",
        ["plan"],
        toml='[[models]]\nname = "x-{c}"\nmatrix.c = "WITH RECURSIVE n(i) AS '
        "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
        'SELECT i FROM n"\n' + SPEC,
        says="instances",
    ),
    Case(
        "toml-colliding-names",
        ["plan"],
        toml=f'[[models]]\nname = "x"\n{SPEC}\n[[models]]\nname = "x"\n{SPEC}',
        says="twice",
    ),
    Case(
        "toml-case-only",
        ["plan"],
        toml=f'[[models]]\nname = "x-{{c}}"\nmatrix.c = ["Acme", "acme"]\n{SPEC}',
        says="case",
    ),
    Case(
        "toml-unicode-normalisation",
        ["plan"],
        toml=f'[[models]]\nname = "x-{{c}}"\nmatrix.c = ["caf\u00e9", "cafe\u0301"]\n{SPEC}',
        says="twice",
    ),
    Case(
        "toml-null-matrix",
        ["plan"],
        toml='[[models]]\nname = "x-{c}"\nmatrix.c = "SELECT NULL UNION ALL SELECT \'a\'"\n' + SPEC,
        says="NULL",
    ),
    Case("toml-missing-train-file", ["run"], toml='[[models]]\nname = "x"\ntrain = "models/nope.py:train"\n'),
    Case("toml-escaping-name", ["plan"], toml='[[models]]\nname = "../../x"\n' + SPEC),
    Case(
        "toml-unknown-placeholder",
        ["plan"],
        toml='[[models]]\nname = "x"\ntrain = "models/m.py:train"\n'
        'inputs.e = "SELECT * FROM examples WHERE id = :nope"\n',
    ),
    Case("toml-field-not-in-matrix", ["plan"], toml='[[models]]\nname = "x-{c}"\n' + SPEC),
    Case("toml-bad-promote-if", ["plan"], toml='[[models]]\nname = "x"\npromote_if = "__import__(1)"\n' + SPEC),
    Case("toml-negative-cpus", ["plan"], toml='[[models]]\nname = "x"\nresources = { cpus = -1 }\n' + SPEC),
    Case("toml-bad-timeout", ["plan"], toml='[[models]]\nname = "x"\nresources = { timeout = "soon" }\n' + SPEC),
    Case("toml-train-and-cmd", ["plan"], toml='[[models]]\nname = "x"\ncmd = "true"\n' + SPEC),
]

BAD_TRAIN = {
    "raises": "def train(ctx):\n    raise ValueError('no good')\n",
    "hangs": "import time\ndef train(ctx):\n    time.sleep(600)\n",
    "exits": "import os\ndef train(ctx):\n    os._exit(7)\n",
    "segfaults": "import os, signal\ndef train(ctx):\n    os.kill(os.getpid(), signal.SIGSEGV)\n",
    "non-numeric-metric": "def train(ctx):\n    return {'accuracy': 'high'}\n",
    "returns-a-string": "def train(ctx):\n    return 'done'\n",
    "binary-garbage": "import os\ndef train(ctx):\n    os.write(1, bytes(range(256)) * 64)\n    raise SystemExit(3)\n",
    "huge-output": (
        "import os\ndef train(ctx):\n    chunk = b'y' * (1 << 20)\n    while True:\n        os.write(1, chunk)\n"
    ),
    "import-error": "import no_such_module_at_all\ndef train(ctx):\n    return {}\n",
    # metrics MLflow refuses (issue 23): that job fails, validated before anything is logged
    "metric-name-5000-chars": "def train(ctx):\n    return {'x' * 5000: 1.0}\n",
    "metric-name-script": "def train(ctx):\n    return {'<script>alert(1)</script>': 1.0}\n",
    "metric-name-dotdot": "def train(ctx):\n    return {'../up': 1.0}\n",
    "metric-name-empty": "def train(ctx):\n    ctx.log_metric('', 1.0)\n    return {}\n",
}
TRAIN_CASES = [
    Case(
        f"train-{name}",
        ["run", "--only", "bad-*", "--json"],
        exit_code=1 if name == "import-error" else 3,
        toml='[[models]]\nname = "bad-{customer}"\ntrain = "models/bad.py:train"\n'
        'matrix.customer = ["c0"]\nresources = { retries = 0, timeout = "4s", max_log = "8MB" }\n'
        'inputs.examples = "SELECT id FROM examples WHERE customer = :customer"\n',
        code_files={"bad.py": code},
    )
    for name, code in BAD_TRAIN.items()
]

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
QUICK = ('branch = "main"', 'branch = "main"\nquery_timeout = "1s"')
SMALL = ('branch = "main"', 'branch = "main"\nquery_memory = "64MiB"')
TRACKING = 'url = "sqlite:///.tusk/mlflow.db"'
BOUND_CASES = [  # issue 23: nothing runs until killed, hangs or walks the disk; each is one line, exit 1
    Case(
        "sql-forever",
        ["data", "sql", f"{FOREVER} SELECT count(*) FROM c"],
        settings=QUICK,
        says="query stopped after 1 s ([data] query_timeout",
    ),
    Case("sql-zeroblob", ["data", "sql", "SELECT zeroblob(1000000000)"], says="query_memory"),
    Case(
        "sql-fills-memory",
        ["data", "sql", f"{FOREVER} SELECT randomblob(1000000) FROM c"],
        settings=SMALL,
        says="of memory ([data] query_memory",
    ),
    Case(
        "toml-matrix-forever",
        ["plan"],
        settings=QUICK,
        says="query stopped after 1 s ([data] query_timeout",
        toml=f'[[models]]\nname = "x-{{c}}"\nmatrix.c = "{FOREVER} SELECT x FROM c WHERE x < 0"\n' + SPEC,
    ),
    Case(
        "toml-input-forever",
        ["run", "--only", "x", "--json"],
        settings=QUICK,
        exit_code=3,
        toml='[[models]]\nname = "x"\ntrain = "models/m.py:train"\n'
        f'inputs.examples = "{FOREVER} SELECT count(*) FROM c"\n',
    ),
    Case(
        "check-sql-forever",
        ["data", "check"],
        settings=QUICK,
        says="forever",
        toml=f'[[checks]]\nname = "forever"\nsql = "{FOREVER} SELECT x FROM c WHERE x < 0"\n',
    ),
    Case(
        "toml-bad-query-timeout",
        ["plan"],
        settings=('branch = "main"', 'branch = "main"\nquery_timeout = "0s"'),
        says="data.query_timeout: must be a positive amount",
    ),
    Case("toml-code-absolute", ["plan"], toml='[[models]]\nname = "x"\ncode = ["/etc/*"]\n' + SPEC, says="relative"),
    Case(
        "toml-code-escaping", ["plan"], toml='[[models]]\nname = "x"\ncode = ["../../../**/*"]\n' + SPEC, says="leaves"
    ),
    Case(
        "toml-code-escaping-inside",
        ["plan"],
        toml='[[models]]\nname = "x"\ncode = ["models/../../*"]\n' + SPEC,
        says="leaves",
    ),
    Case(
        "toml-billion-retries",
        ["plan"],
        toml='[[models]]\nname = "x"\nresources = { retries = 1000000000 }\n' + SPEC,
        says="retries",
    ),
    Case(
        "toml-billion-cpus", ["plan"], toml='[[models]]\nname = "x"\nresources = { cpus = 1e9 }\n' + SPEC, says="cpus"
    ),
    Case("toml-nan-cpus", ["plan"], toml='[[models]]\nname = "x"\nresources = { cpus = nan }\n' + SPEC, says="cpus"),
    Case(
        "toml-billion-gpus", ["plan"], toml='[[models]]\nname = "x"\nresources = { gpus = 1e9 }\n' + SPEC, says="gpus"
    ),
    Case("toml-billion-devices", ["plan"], settings=('gpus = "auto"', "gpus = 1000000000"), says="gpus"),
    Case(
        "toml-billion-workers", ["plan"], settings=("local://?workers=2", "local://?workers=1000000000"), says="workers"
    ),
    Case("tracking-not-sqlite", ["plan"], settings=(TRACKING, 'url = "sqlite:////etc/passwd"'), says="not an SQLite"),
    Case("tracking-folder", ["plan"], settings=(TRACKING, 'url = "sqlite:////etc"'), says="folder"),
    Case("tracking-unreachable", ["plan"], settings=(TRACKING, 'url = "http://127.0.0.1:9"'), says="cannot reach"),
]

CASES = FILE_CASES + OUTPUT_CASES + REF_CASES + TOML_CASES + TRAIN_CASES + BOUND_CASES


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> TrainProject:
    project = make_project(tmp_path_factory.mktemp("hostile"), customers=2)
    config = project.root / "tusk.toml"
    config.write_text(config.read_text().replace('builder = "auto"', 'builder = "none"'))
    project.tusk("run")
    project.tusk("data", "tags", "v1")
    project.tusk("release", "create")
    return project


def snapshot(project: TrainProject) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{project.root / '.tusk' / 'mlflow.db'}?mode=ro", uri=True)
    try:
        registry = {
            table: sorted(map(repr, db.execute(f"SELECT * FROM {table}").fetchall()))
            for table in (
                "registered_models",
                "model_versions",
                "registered_model_aliases",
                "registered_model_tags",
                "model_version_tags",
            )
        }
    finally:
        db.close()
    return {
        "branches": project.json("data", "branch")["branches"],
        "tags": project.json("data", "tags")["tags"],
        "rows": project.json("data", "sql", "SELECT * FROM examples ORDER BY id")["rows"],
        "registry": registry,
        "releases": project.json("release", "list")["releases"],
    }


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(world: TrainProject, case: Case, tmp_path: Path) -> None:
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    config = world.root / "tusk.toml"
    original = config.read_text()
    before = snapshot(world)
    try:
        head, models = original.split("\n[[models]]", 1)
        if case.settings is not None:
            assert case.settings[0] in head, case.settings
            head = head.replace(case.settings[0], case.settings[1], 1)
        if case.toml is not None:
            config.write_text(head.rstrip() + "\n\n" + case.toml)
        elif case.settings is not None:
            config.write_text(head + "\n[[models]]" + models)
        for name, code in case.code_files.items():
            (world.root / "models" / name).write_text(code)
        result = world.tusk(*[a.replace("{dir}", str(tmp_path)) for a in case.args], code=None)
    finally:
        config.write_text(original)
    assert result.exit_code == case.exit_code, result.output[-3000:]
    if case.exit_code == 3:
        job = json.loads(result.stdout)["jobs"][0]
        assert job["status"] == "failed" and job["error"] and "\n" not in job["error"], job
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
        assert case.says in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert snapshot(world) == before


# ----- outputs: regular files only, the umask, formulas -----------------------------------------------------
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_export_keeps_links_fifos_and_devices_as_they_are(world: TrainProject, tmp_path: Path) -> None:
    """Export renamed its file over whatever the path named: a link became a file, a FIFO a file, and as root
    -o /dev/full turned the device into a regular 0600 file."""
    import os
    import stat

    _symlink(tmp_path / "link.csv")
    _fifo(tmp_path / "pipe.csv")
    targets = {"link.csv": stat.S_ISLNK, "pipe.csv": stat.S_ISFIFO}
    try:
        os.mknod(tmp_path / "null.csv", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a twin of /dev/null
        targets["null.csv"] = stat.S_ISCHR
    except OSError:
        pass  # no CAP_MKNOD here: the link and the FIFO still count
    for name, kind in targets.items():
        result = world.tusk(*EXPORT, str(tmp_path / name), code=1)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.output
        assert kind(os.lstat(tmp_path / name).st_mode), f"{name} was replaced"
    assert (tmp_path / "target.csv").read_text() == "keep me\n"
    assert _leftovers(tmp_path) == []


def test_export_respects_the_umask_and_keeps_a_files_mode(world: TrainProject, tmp_path: Path) -> None:
    """Exports were always 0600, whatever the umask."""
    import os
    import stat

    old = os.umask(0o027)
    try:
        world.tusk(*EXPORT, str(tmp_path / "new.csv"))
        assert stat.S_IMODE(os.stat(tmp_path / "new.csv").st_mode) == 0o640
        os.umask(0o022)
        world.tusk(*EXPORT, str(tmp_path / "new.xlsx"))
        assert stat.S_IMODE(os.stat(tmp_path / "new.xlsx").st_mode) == 0o644
        (tmp_path / "old.csv").write_text("old\n")
        os.chmod(tmp_path / "old.csv", 0o604)
        world.tusk(*EXPORT, str(tmp_path / "old.csv"))
        assert stat.S_IMODE(os.stat(tmp_path / "old.csv").st_mode) == 0o604
        assert (tmp_path / "old.csv").read_text().startswith("id,")
    finally:
        os.umask(old)


def test_a_destination_that_changes_during_the_export_is_not_replaced(world: TrainProject, tmp_path: Path) -> None:
    """The world moves between writing and renaming: the file became a link (kept, refused), or the write
    failed half-way (the old file kept whole, no temporary file left)."""
    import os

    from tusk._internal.crash import at_point

    out = tmp_path / "out.csv"
    out.write_text("old\n")

    def swap() -> None:
        out.unlink()
        _symlink(out)

    with at_point("output.written", swap):
        result = world.tusk(*EXPORT, str(out), code=1)
    assert "symbolic link" in result.stderr and os.path.islink(out)
    assert _leftovers(tmp_path) == []
    out.unlink()
    out.write_text("old\n")

    def crash() -> None:
        raise RuntimeError("the disk went away")

    with at_point("output.written", crash), pytest.raises(RuntimeError):
        world.tusk(*EXPORT, str(out))
    assert out.read_text() == "old\n" and _leftovers(tmp_path) == []


FORMULAS = [
    '=HYPERLINK("http://x.invalid","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "-2+3",
    "\tTab",
    "\rCR",
    "=",
    "-",
    "'=already quoted",
    "''=twice",
    "'plain",
    "'",
    "plain",
    "-1",
    "+1.5",
    "-2e3",
    "a=b",
]


def test_csv_export_neutralizes_formulas_and_imports_back_exactly(world: TrainProject, tmp_path: Path) -> None:
    """CSV export wrote =HYPERLINK(...), +cmd|..., @SUM(...) raw: a spreadsheet runs them. Each now has a leading
    apostrophe (a spreadsheet shows it as text), numbers stay numbers, and importing the file takes exactly that
    apostrophe off: a cell that truly starts with one comes back too."""
    import csv
    import re

    lines = [json.dumps({"id": i, "text": text, "n": -i}) for i, text in enumerate(FORMULAS)]
    (tmp_path / "cells.jsonl").write_text("\n".join(lines) + "\n")  # JSON Lines: the values exactly as they are
    world.tusk("data", "import", str(tmp_path / "cells.jsonl"), "--table", "cells", "--key", "id", "--branch", "cells")
    world.tusk("data", "export", "cells", "--at", "cells", "-o", str(tmp_path / "cells.csv"))
    with (tmp_path / "cells.csv").open(newline="") as handle:
        written = list(csv.reader(handle))[1:]
    number = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
    for _, text, n in written:
        assert text[:1] not in ("=", "+", "-", "@", "\t", "\r") or number.fullmatch(text), text
        assert n.lstrip("-").isdigit(), n
    shown = {int(i): text for i, text, _ in written}
    assert shown[0] == "'" + FORMULAS[0] and shown[8] == "''=already quoted" and shown[10] == "'plain"
    assert shown[13] == "-1" and shown[16] == "a=b"
    again = world.json("data", "import", str(tmp_path / "cells.csv"), "--table", "cells", "--branch", "cells")
    assert again["commit"] is None and again["modified"] == 0, again  # back exactly: nothing changed
    rows = world.json("data", "sql", "SELECT text FROM cells ORDER BY id", "--at", "cells")["rows"]
    assert [r[0] for r in rows] == FORMULAS
    stdout = world.tusk("data", "export", "cells", "--at", "cells", "-o", "-").stdout
    assert "\n0,'=HYPERLINK" in stdout.replace('"', "")
    world.tusk("data", "export", "cells", "--at", "cells", "-o", str(tmp_path / "raw.csv"), "--raw-formulas")
    assert '\n0,"=HYPERLINK' in (tmp_path / "raw.csv").read_text()

    assert _runs_left(world) == [], "a run was left RUNNING or KILLED"


def _runs_left(project: TrainProject) -> list[Any]:
    db = sqlite3.connect(f"file:{project.root / '.tusk' / 'mlflow.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT run_uuid, status FROM runs WHERE status IN ('RUNNING', 'KILLED')").fetchall()
    finally:
        db.close()


def test_twenty_thousand_metrics_are_logged_in_seconds(world: TrainProject) -> None:
    """MLflow takes 1,000 metrics per call: a job returning 20,000 is logged in batches (it hung past 120 s)."""
    import time

    config = world.root / "tusk.toml"
    original = config.read_text()
    try:
        config.write_text(
            original.split("\n[[models]]", 1)[0].rstrip()
            + "\n\n"
            + TRAIN_CASES[0].toml.replace("bad-{customer}", "many-{customer}")
        )
        (world.root / "models" / "bad.py").write_text(
            "def train(ctx):\n    return {f'm{i}': i for i in range(20000)}\n"
        )
        started = time.monotonic()
        result = world.tusk("run", "--only", "many-*", "--json", code=None)
        seconds = time.monotonic() - started
    finally:
        config.write_text(original)
    assert result.exit_code == 0, result.output[-3000:]
    [job] = json.loads(result.stdout)["jobs"]
    assert job["status"] == "succeeded" and len(job["metrics"]) == 20000
    assert seconds < 60, seconds
    assert _runs_left(world) == []


def test_a_refused_metric_name_prints_one_reason_not_tusks_traceback(tmp_path: Path) -> None:
    """The failed job's log tail is printed under the results: for a metric name MLflow refuses it showed tusk's
    own frames (a Traceback ending in JobError) as if the job had crashed; now the reason's one line."""
    project = make_project(tmp_path, customers=1, per_customer=2)
    (project.root / "models" / "bad.py").write_text("def train(ctx):\n    return {'x' * 5000: 1.0}\n")
    project.set_models('\n[[models]]\nname = "bad"\ntrain = "models/bad.py:train"\nresources = { retries = 0 }\n')
    result = project.tusk("run", code=3)
    assert "Traceback" not in result.output, result.output
    assert "metric name" in result.output
