"""A DVC stage: ``python dvc_train.py CUSTOMER`` reads data/CUSTOMER.csv, writes models/CUSTOMER/ and
metrics/CUSTOMER.json (the same pandas function as the tusk model)."""

import json
import sys
from pathlib import Path

import pandas as pd

from trainfn import fit

customer = sys.argv[1]
model, metrics = fit(pd.read_csv(f"data/{customer}.csv"))
out = Path("models") / customer
out.mkdir(parents=True, exist_ok=True)
(out / "model.json").write_text(json.dumps(model, sort_keys=True))
Path("metrics").mkdir(exist_ok=True)
Path("metrics", f"{customer}.json").write_text(json.dumps(metrics, sort_keys=True))
