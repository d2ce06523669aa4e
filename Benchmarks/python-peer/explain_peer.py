"""XGBoost's own TreeSHAP (`pred_contribs`), measured per row on one thread, for the models
`verdict bench forest` explains in the same bench run.

    python explain_peer.py ROWS_CSV MODEL [MODEL ...]
        prints one JSON line per model: pred_contribs per row, as a batch call over 2,000 rows
        and as one-row calls (p50 over 500 calls)
    python explain_peer.py --train WORK_DIR
        trains the scaling models (trees x depth, 22 features of the reference data set) into
        WORK_DIR as <trees>x<depth>.ubj with WORK_DIR/rows.csv, and prints their paths
"""

import json
import sys
import time

import numpy as np
import xgboost as xgb

SCALING = [(100, 4), (100, 6), (300, 6), (1000, 6), (300, 8), (1000, 8)]


def read_rows(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [[float(x) if x else np.nan for x in line.strip().split(",")] for line in f]
    return header, np.array(rows, dtype=np.float64)


def train(work):
    # Synthetic data with interactions, so deep trees use their depth (22 features, 1.6% missing).
    rng = np.random.default_rng(11)
    n, k = 40_000, 22
    x = rng.normal(size=(n, k))
    logit = x[:, 0] * x[:, 1] + np.sin(x[:, 2] * 2) + x[:, 3] ** 2 - x[:, 4] * x[:, 5] * x[:, 6] + 0.5 * x[:, 7] - 2.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    x[rng.uniform(size=x.shape) < 0.016] = np.nan
    names = [f"f{i}" for i in range(k)]
    with open(f"{work}/rows.csv", "w") as f:
        f.write(",".join(names) + "\n")
        for row in x[:2000]:
            f.write(",".join("" if v != v else repr(float(v)) for v in row) + "\n")
    data = xgb.DMatrix(x, label=y, feature_names=names)
    for trees, depth in SCALING:
        params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.05, "tree_method": "hist",
                  "nthread": 2, "seed": 1, "subsample": 0.8, "min_child_weight": 1}
        booster = xgb.train(params, data, num_boost_round=trees)
        path = f"{work}/{trees}x{depth}.ubj"
        booster.save_model(path)
        print(path)


def measure(rows_path, models):
    header, rows = read_rows(rows_path)
    rows = rows[:2000]
    for path in models:
        booster = xgb.Booster()
        booster.load_model(path)
        booster.set_param({"nthread": 1})
        names = booster.feature_names or header
        matrix = xgb.DMatrix(rows, feature_names=names)
        booster.predict(matrix, pred_contribs=True)  # warm-up
        start = time.perf_counter()
        booster.predict(matrix, pred_contribs=True)
        batch_us = (time.perf_counter() - start) / len(rows) * 1e6
        samples = []
        for i in range(500):
            one = xgb.DMatrix(rows[i:i + 1], feature_names=names)
            start = time.perf_counter()
            booster.predict(one, pred_contribs=True)
            samples.append((time.perf_counter() - start) * 1e6)
        samples.sort()
        print(json.dumps({"model": path, "trees": booster.num_boosted_rounds(), "xgboost": xgb.__version__,
                          "pred_contribs_batch_us_per_row": round(batch_us, 1),
                          "pred_contribs_one_row_p50_us": round(samples[len(samples) // 2], 1)}))


if __name__ == "__main__":
    if sys.argv[1] == "--train":
        train(sys.argv[2])
    else:
        measure(sys.argv[1], sys.argv[2:])
