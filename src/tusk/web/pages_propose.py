"""Propose a change: an analyst uploads a CSV or XLSX from the page (the table it changes, the key of a new table,
the mode, a title) and it lands on a review branch, never on the data branch, through the same import as
``tusk data import --branch`` (one commit, validated whole); the answer is the new review's page with its blast
radius. The form is on the home page, the reviews and the data pages, and on ``/propose`` by itself."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import Web, back_to, error_page, error_status, page, page_words, render, session_of
from tusk.web.security import Gate

if TYPE_CHECKING:
    from tusk.project import Project

MODES = ("upsert", "replace", "append")  # upsert first: the default, and the one that cannot drop other rows
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
UPLOAD_MAX = 200 * 1024 * 1024  # bytes of one file
# How to read the file, as the form offers it ("" = automatic: the delimiter sniffed, the encoding detected)
DELIMITERS = {"": "automatic", ",": "commas (,)", ";": "semicolons (;)", "tab": "tabs", "|": "bars (|)"}
ENCODINGS = {
    "": "automatic",
    "utf-8": "UTF-8",
    "cp1252": "Western European (Windows-1252)",
    "latin-1": "Latin-1 (ISO-8859-1)",
    "utf-16": "UTF-16",
    "cp1250": "Central European (Windows-1250)",
    "cp1251": "Cyrillic (Windows-1251)",
}
KEPT = ("table", "new_table", "key", "mode", "title", "branch", "delimiter", "encoding", "sheet", "normalize_headers")


def propose_context(project: Project, request: Request) -> dict[str, Any]:
    """What the form needs: the tables it can change (the one asked for first) and how it may read a file."""
    return {
        "propose_tables": project.table_names(),
        "propose_table": request.query_params.get("table", ""),
        "propose_delimiters": DELIMITERS,
        "propose_encodings": ENCODINGS,
    }


def propose_page(project: Project, request: Request) -> dict[str, Any]:
    return {"section": "reviews", **propose_context(project, request)}


def _upload_name(upload: UploadFile) -> str:
    """The uploaded file's own name, kept (the commit message names it), reduced to safe characters."""
    name = Path((upload.filename or "").replace("\\", "/")).name
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise TuskError(f"{name or 'the file'}: choose a CSV or an Excel workbook (.csv, .tsv, .txt or .xlsx)")
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" .") or "upload"
    return stem[:80] + suffix


def _read_options(name: str, fields: dict[str, str]) -> tuple[str | None, str | None, str | None, bool]:
    """The form's "how to read the file" (delimiter, encoding, sheet, plain column names), an option that does not
    apply to this kind of file refused in the form's words rather than ignored."""
    delimiter, encoding, sheet = fields.get("delimiter", ""), fields.get("encoding", ""), fields.get("sheet", "")
    if delimiter not in DELIMITERS:
        raise TuskError(f"unknown separator {delimiter!r}: choose one of the list (or automatic)")
    if encoding not in ENCODINGS:
        raise TuskError(f"unknown encoding {encoding!r}: choose one of the list (or automatic)")
    workbook = name.lower().endswith(".xlsx")
    if sheet and not workbook:
        raise TuskError(
            f"{name} is a text file, not an Excel workbook: a sheet is chosen only for an .xlsx file "
            "(leave “sheet” empty)"
        )
    if workbook and delimiter:
        raise TuskError(f"{name} is an Excel workbook: its columns are apart already (leave “separated by” automatic)")
    if workbook and encoding:
        raise TuskError(f"{name} is an Excel workbook: it has no text encoding to choose (leave “encoding” automatic)")
    normalize = fields.get("normalize_headers", "") not in ("", "0", "no", "off")
    return delimiter or None, encoding or None, sheet or None, normalize


def _read_as(imported: Any) -> str:
    """How the file was read, when not as plain UTF-8 with commas: `` (read as cp1252, separated by ';')``."""
    said = []
    if imported.encoding and imported.encoding != "utf-8":
        said.append(f"read as {imported.encoding}")
    if imported.delimiter and imported.delimiter not in (",", "\t"):
        said.append(f"separated by {imported.delimiter!r}")
    if imported.sheet:
        said.append(f"sheet {imported.sheet!r}")
    return f" ({', '.join(said)})" if said else ""


def routes(web: Web) -> list[BaseRoute]:
    async def propose(request: Request) -> Response:
        session = session_of(request)
        form = await request.form(max_files=1, max_fields=50)
        try:
            if not Gate.csrf_ok(session, str(form.get("csrf") or "")):
                return PlainTextResponse(
                    "refused: this form has no valid CSRF token (reload the page)", status_code=403
                )
            fields = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
            upload = form.get("file")
            detail = {k: v[:200] for k, v in fields.items() if k != "csrf"}
            try:
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise TuskError("choose the file to propose (a CSV or an Excel workbook)")
                name = _upload_name(upload)
                detail["file"] = name
                new_table = fields.get("new_table", "")
                table = new_table or fields.get("table", "")
                if not table:
                    raise TuskError("choose the table the file changes, or name a new table")
                mode = fields.get("mode") or "upsert"
                if mode not in MODES:
                    raise TuskError(f"unknown way to apply the file: {mode!r}")
                delimiter, encoding, sheet, normalize = _read_options(name, fields)
                with tempfile.TemporaryDirectory(prefix="tusk-upload-") as folder:
                    path = Path(folder) / name
                    size = 0
                    with path.open("wb") as out:
                        while chunk := await upload.read(1 << 20):
                            size += len(chunk)
                            if size > UPLOAD_MAX:
                                raise TuskError(f"{name} is larger than the page takes ({UPLOAD_MAX // 2**20} MB)")
                            out.write(chunk)
                    if size == 0:
                        raise TuskError(f"{name} is empty")

                    def run() -> tuple[str, str]:
                        with web.project() as project:
                            keys = _keys(project, table, fields.get("key", ""))
                            done = project.propose(
                                str(path),
                                table,
                                fields.get("title", ""),
                                session.who,
                                keys,
                                mode,
                                fields.get("branch") or None,
                                delimiter=delimiter,
                                encoding=encoding,
                                sheet=sheet,
                                normalize_headers=normalize,
                            )
                            i = done.imported
                            counts = f"+{i.added} ~{i.modified} −{i.removed} rows of {i.table}{_read_as(i)}"
                            opened = "opened the review" if done.new_branch else "added to the review"
                            return f"{opened} {done.branch}: {counts}", done.branch

                    from starlette.concurrency import run_in_threadpool

                    try:
                        message, branch = await run_in_threadpool(run)
                    except TuskError as exc:  # the file by the name it was uploaded as, not the folder it waited in
                        exc.args = (str(exc).replace(f"{folder}{os.sep}", ""), *exc.args[1:])
                        raise
            except TuskError as exc:
                web.log_action(session.who, "propose", detail, f"refused: {exc}")
                return await _refused(web, request, exc, fields)
            web.log_action(session.who, "propose", detail, message)
            target = f"/review?branch={quote(branch, safe='')}&{urlencode({'done': message[:300]})}"
            return RedirectResponse(target, status_code=303)
        finally:
            await form.close()

    async def propose_edit(request: Request) -> Response:
        """A few cells of a table edited as a review (the table's page's small form): each line a row's key, a
        column and the new value; the answer is the new review's page."""
        session = session_of(request)
        form = await request.form(max_files=0, max_fields=50)
        fields = {
            k: str(v).strip() if k.startswith(("key", "column", "title", "branch", "table")) else str(v)
            for k, v in form.items()
            if isinstance(v, str)
        }
        if not Gate.csrf_ok(session, fields.get("csrf", "")):
            return PlainTextResponse("refused: this form has no valid CSRF token (reload the page)", status_code=403)
        table = fields.get("table", "")
        edits = [
            (fields.get(f"key{i}", ""), fields.get(f"column{i}", ""), fields.get(f"value{i}", "")) for i in range(1, 11)
        ]
        edits = [e for e in edits if e[0] or e[2]]  # a line with neither a row nor a value is left empty
        detail = {"table": table, "title": fields.get("title", "")[:200], "cells": str(len(edits))}

        def run() -> tuple[str, str]:
            with web.project() as project:
                done = project.propose_edit(
                    table, edits, fields.get("title", ""), session.who, fields.get("branch") or None
                )
                i = done.imported
                opened = "opened the review" if done.new_branch else "added to the review"
                return f"{opened} {done.branch}: ~{i.modified} rows of {i.table}", done.branch

        from starlette.concurrency import run_in_threadpool

        try:
            message, branch = await run_in_threadpool(run)
        except TuskError as exc:
            web.log_action(session.who, "propose edit", detail, f"refused: {exc}")
            return error_page(web, request, exc)
        web.log_action(session.who, "propose edit", detail, message)
        target = f"/review?branch={quote(branch, safe='')}&{urlencode({'done': message[:300]})}"
        return RedirectResponse(target, status_code=303)

    return [
        Route("/propose", page(web, "propose.html", propose_page)),
        Route("/propose", propose, methods=["POST"]),
        Route("/propose/edit", propose_edit, methods=["POST"]),
    ]


async def _refused(web: Web, request: Request, error: TuskError, fields: dict[str, str]) -> Response:
    """A refused upload: what went wrong in the page's words, above the form as it was filled in (every field
    kept but the file, which a browser never refills), and the way back to where the person was."""
    from starlette.concurrency import run_in_threadpool

    def run() -> dict[str, Any]:
        with web.project() as project:
            return propose_context(project, request)

    try:
        context = await run_in_threadpool(run)
    except TuskError:
        return error_page(web, request, error)
    kept = {k: fields.get(k, "") for k in KEPT}
    return render(
        web,
        request,
        "propose.html",
        status=error_status(error),
        section="reviews",
        error=page_words(error),
        back=back_to(request),
        propose_values=kept,
        **context,
    )


def _keys(project: Project, table: str, typed: str) -> list[str]:
    """The key columns: typed for a new table; an existing table keeps its own (the field is not asked for)."""
    if table in project.table_names():
        return []
    keys = [k.strip() for k in typed.replace(";", ",").split(",") if k.strip()]
    if not keys:
        raise TuskError(f"{table} is a new table: name its key column(s), the column(s) that tell its rows apart")
    return keys
