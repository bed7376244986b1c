"""A model's page "try it" on the intents example (real MLflow models trained by tusk): the form holds the served
version's logged input example; posting it answers the predictions as `tusk serve` would; a payload that is not
JSON, or does not fit the model, is a 400 page with the message and the payload kept; a model with no served
version says so; no CSRF token, no scoring."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from intents_fixtures import intents_project
from train_fixtures import CliProject
from web_client import client, csrf


@pytest.fixture(scope="module")
def intents(tmp_path_factory: pytest.TempPathFactory) -> CliProject:
    """The intents example, no release: every model's production version is the one served."""
    return intents_project(tmp_path_factory, "web-try")


def _payload(page: str) -> str:
    found = re.search(r'<textarea name="payload"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page[-3000:]
    return html.unescape(found.group(1))


def _predictions(page: str) -> Any:
    found = re.search(r'<pre id="try-predictions">(.*?)</pre>', page, re.S)
    assert found, page[-3000:]
    return json.loads(html.unescape(found.group(1)))


def test_the_form_holds_the_example_and_posting_it_gives_predictions(intents: CliProject) -> None:
    web = client(intents.root)
    page = web.get("/model", params={"name": "intent-acme"})
    assert page.status_code == 200 and 'id="try-form"' in page.text
    example = json.loads(_payload(page.text))
    logged = next((intents.root / ".tusk" / "serve" / "intent-acme").glob("*/serving_input_example.json"))
    assert example == json.loads(logged.read_text()), "the form holds the logged input example"
    assert "(production)" in page.text

    answer = web.post("/model?name=intent-acme", data={"csrf": csrf(page.text), "payload": _payload(page.text)})
    assert answer.status_code == 200, answer.text[-2000:]
    predictions = _predictions(answer.text)
    rows = example.get("dataframe_split", {}).get("data") or example.get("inputs") or example.get("dataframe_records")
    assert isinstance(predictions, list) and len(predictions) == len(rows)

    edited = {"dataframe_split": {"columns": ["text"], "data": [["where is my order"], ["cancel it"], ["hello"]]}}
    answer = web.post("/model?name=intent-acme", data={"csrf": csrf(page.text), "payload": json.dumps(edited)})
    assert answer.status_code == 200 and len(_predictions(answer.text)) == 3
    assert json.loads(_payload(answer.text)) == edited, "the edited payload stays in the form"


def test_a_bad_payload_is_a_400_page_with_the_message(intents: CliProject) -> None:
    web = client(intents.root)
    token = csrf(web.get("/model", params={"name": "intent-acme"}).text)
    answer = web.post("/model?name=intent-acme", data={"csrf": token, "payload": "{not json"})
    assert answer.status_code == 400 and 'id="try-error"' in answer.text
    assert "the payload is not JSON" in html.unescape(answer.text)
    assert _payload(answer.text) == "{not json", "the payload is kept to be corrected"
    wrong = json.dumps({"dataframe_split": {"columns": ["nope"], "data": [["x"]]}})
    answer = web.post("/model?name=intent-acme", data={"csrf": token, "payload": wrong})
    assert answer.status_code == 400 and "refused the payload" in html.unescape(answer.text)
    refused = web.post("/model?name=intent-acme", data={"payload": wrong})
    assert refused.status_code == 403 and "CSRF" in refused.text


def test_a_model_with_no_served_version_says_so(intents: CliProject) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{intents.root / '.tusk' / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model_alias("intent-globex", "production")
    web = client(intents.root)
    page = web.get("/model", params={"name": "intent-globex"})
    assert page.status_code == 200 and 'id="try-none"' in page.text and 'id="try-form"' not in page.text
    assert "intent-globex has no served version" in page.text
    answer = web.post("/model?name=intent-globex", data={"csrf": csrf(page.text), "payload": "{}"})
    assert answer.status_code == 400 and "has no served version" in answer.text
