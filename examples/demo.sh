#!/usr/bin/env bash
# The intents demo, end to end on the embedded defaults (doltlite, MLflow on sqlite, local workers):
# init → import → plan → run → edit one customer on a branch → plan --at the branch → merge → run → status.
set -euo pipefail
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
DIR=${DEMO_DIR:-demo}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$DIR"
say "tusk init $DIR --example intents: a project with synthetic intent utterances for 20 customers"
tusk init "$DIR" --example intents
cd "$DIR"

say "its code is committed (tusk init made it a git repository), so tusk reproduce can rebuild any model"
if [ "$(git rev-parse --show-toplevel 2>/dev/null)" != "$(pwd -P)" ]; then  # inside another repository: its own
  git init -q && git add -A && git -c user.name=demo -c user.email=demo@localhost commit -qm "the demo project"
fi
git log --oneline

say "import the training data (one commit on main)"
tusk data import data/examples.csv --table examples --key id -m "initial examples"
tusk data log

say "plan: every model is new"
tusk plan

say "run: train one TF-IDF + logistic-regression adapter per customer, in parallel"
tusk run

say "reproduce: retrain one model from its recorded data and code commits; the fingerprint must match"
first="$(tusk models list --json | python3 -c 'import json,sys; print(sorted(m["name"] for m in json.load(sys.stdin)["models"])[0])')"
tusk reproduce "$first@1"

say "an analyst relabels some of one customer's rows on a branch"
python3 - <<'PY'
import csv
rows = list(csv.DictReader(open("data/examples.csv", newline="")))
customer = rows[0]["customer"]
changed = 0
for row in rows:
    if row["customer"] == customer and changed < 3:
        row["label"] = "cancel_order" if row["label"] != "cancel_order" else "track_order"
        changed += 1
with open("data/examples-fixed.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
print(f"relabelled {changed} rows of {customer}")
PY
tusk data import data/examples-fixed.csv --table examples --key id --mode upsert --branch relabel -m "relabel 3 rows"

say "review the change row by row: what relabel changed since it left main (three dots, as in git)"
tusk data diff main...relabel --table examples

say "plan --at relabel: what merging it into main would retrain (a merge preview; main is untouched)"
tusk plan --at relabel

say "merge it"
tusk data merge relabel -m "merge relabel"

say "run: only the affected customer retrains"
tusk run

say "status"
tusk status

say "release: every production model in one manifest, its md5 the image tag (--no-build: no image here)"
tusk release create --no-build
tusk release log

say "lineage: where the retrained model came from, and which release holds it"
retrained="$(tusk models list --json | python3 -c 'import json,sys; print([m["name"] for m in json.load(sys.stdin)["models"] if m["version"] == "2"][0])')"
tusk lineage "$retrained"

say "its training log (an artifact of its MLflow run)"
tusk logs "$retrained"

say "MLflow's own API loads it: the model was saved with ctx.log_model in MLflow's format"
python3 - "$PWD/.tusk/mlflow.db" "$retrained" <<'PY'
import sys, mlflow, pandas as pd
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}"); mlflow.set_registry_uri(f"sqlite:///{sys.argv[1]}")
model = mlflow.pyfunc.load_model(f"models:/{sys.argv[2]}@production")
texts = ["has my order shipped yet", "i want my money back"]
print(dict(zip(texts, (str(p) for p in model.predict(pd.DataFrame({"text": texts}))))))
PY
say "browse runs and versions with: mlflow ui --backend-store-uri sqlite:///$PWD/.tusk/mlflow.db"

say "an analyst proposes another edit on a branch: it stays open, for a reviewer in the page"
tusk data export examples -o data/examples-now.csv
python3 - <<'PY'
import csv
rows = list(csv.DictReader(open("data/examples-now.csv", newline="")))
customer = sorted({r["customer"] for r in rows})[1]
changed = 0
for row in rows:
    if row["customer"] == customer and changed < 2:
        row["label"] = "refund" if row["label"] != "refund" else "track_order"
        changed += 1
with open("data/examples-review.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
open("data/review-customer.txt", "w").write(customer)
PY
customer=$(cat data/review-customer.txt)
tusk data import data/examples-review.csv --table examples --key id --mode upsert --branch fix-labels \
  -m "fix two labels of $customer"
tusk review edit fix-labels --title "Fix two labels of $customer" \
  --description "Two utterances of $customer were labelled by hand in the sheet; please check them."
tusk review comment fix-labels "the second one looked like a refund to me"
tusk review show fix-labels

say "done. Review fix-labels in the page (merge it, or approve per model; Ctrl-C stops the page):"
echo "  $(command -v tusk) -C $PWD ui --review fix-labels"
