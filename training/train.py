"""Trains Verdict's fraud model from synthetic traffic, end to end, reproducibly.

    make model                      # creates training/.venv from requirements.lock, then runs this
    training/.venv/bin/python training/train.py --help

1. Data: `verdict generate` writes v1 contract events with fraud patterns (deterministic for the
   seed) and their labels; `verdict features` turns them into the feature matrix. Both are the
   Swift code the service runs: one generator, one feature implementation, no training/serving skew.
2. Time-ordered split: the first 80% of events (by time) train, the last 20% are the holdout.
3. Models: XGBoost (the default), LightGBM and a scikit-learn RandomForest (exported to ONNX)
   as candidates, all evaluated on the holdout: ROC-AUC, PR-AUC, recall at 1% false-positive rate,
   Brier score and expected calibration error.
4. Thresholds: review_at and decline_at are the holdout scores of legitimate traffic at the target
   false-positive rates (1% and 0.1% by default).
5. The model card records everything the service and `verdict model verify` check: sha256, library
   versions, parameters, the data fingerprint, the ordered features and the feature config's hash,
   metrics, thresholds, PSI reference bins, and golden vectors.
6. MLflow records the run (local file store under training/mlruns unless MLFLOW_TRACKING_URI is set).
"""
import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime as ort
import scipy
import skl2onnx
import sklearn
import xgboost as xgb
import yaml
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from verdict_metrics import expected_calibration_error, psi_bins, sha256

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def run(command):
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def load_matrix(features_csv, labels_csv):
    with open(features_csv) as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    ids = [r[0] for r in rows]
    x = np.array([[float(v) if v != "" else np.nan for v in r[1:]] for r in rows], dtype=np.float64)
    with open(labels_csv) as f:
        labels = {r["transaction_id"]: (int(r["is_fraud"]), r["pattern"]) for r in csv.DictReader(f)}
    y = np.array([labels[i][0] for i in ids], dtype=np.int32)
    patterns = np.array([labels[i][1] for i in ids])
    return header[1:], ids, x, y, patterns


def recall_by_pattern(p, y, patterns, threshold):
    """Share of each fraud pattern's labelled-fraud events scored at or above `threshold`."""
    out = {}
    for pattern in sorted(set(patterns[y == 1])):
        chosen = (y == 1) & (patterns == pattern)
        out[pattern] = float((p[chosen] >= threshold).mean())
    return out


def threshold_at_fpr(p, y, fpr):
    """The score legitimate traffic reaches with probability `fpr` (the review threshold)."""
    return float(np.quantile(p[y == 0], 1 - fpr))


def aggregate_definitions(features_path):
    """features.yaml's aggregates, as the card records them (verdict checks them on load)."""
    with open(features_path) as f:
        config = yaml.safe_load(f)
    return [{k: v for k, v in a.items() if k != "reason"} for a in config.get("aggregates") or []]


def evaluate(y, p):
    fpr, tpr, _ = roc_curve(y, p)
    recall_at_1pct = float(np.interp(0.01, fpr, tpr))
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "recall_at_1pct_fpr": recall_at_1pct,
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "fraud_rate": float(y.mean()),
    }


def repair_missing_directions(model, proto):
    """skl2onnx writes nodes_missing_value_tracks_true = 0 everywhere; restore scikit-learn's
    per-node missing_go_to_left so the ONNX file routes NaN as the trained model does."""
    node = next(n for n in proto.graph.node if n.op_type == "TreeEnsembleClassifier")
    attributes = {a.name: a for a in node.attribute}
    tree_ids = list(attributes["nodes_treeids"].ints)
    node_ids = list(attributes["nodes_nodeids"].ints)
    modes = list(attributes["nodes_modes"].strings)
    tracks = []
    for tree, nid, mode in zip(tree_ids, node_ids, modes, strict=True):
        t = model.estimators_[tree].tree_
        tracks.append(int(mode != b"LEAF" and bool(t.missing_go_to_left[nid])))
    if "nodes_missing_value_tracks_true" in attributes:
        node.attribute.remove(attributes["nodes_missing_value_tracks_true"])
    node.attribute.append(onnx.helper.make_attribute("nodes_missing_value_tracks_true", tracks))
    return proto


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verdict", default=os.path.join(ROOT, ".build/release/verdict"))
    # 2.0.0 reads the stream aggregates: its configuration is config/stateful (docs/features.md).
    parser.add_argument("--config", default=os.path.join(ROOT, "config/stateful/verdict.yaml"))
    parser.add_argument("--features", default=os.path.join(ROOT, "config/stateful/features.yaml"))
    parser.add_argument("--name", default="verdict-fraud")
    parser.add_argument("--version", default="2.0.0")
    parser.add_argument("--out", default=os.path.join(ROOT, "models"))
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--start", default="2026-09-01T00:00:00Z")
    parser.add_argument("--profile", default="sequences", help="verdict generate --profile (1.0.0 was trained on realistic)")
    parser.add_argument("--spacing", default="3", help="verdict generate --spacing: mean seconds between events")
    parser.add_argument("--baseline", default=os.path.join(ROOT, "models/verdict-fraud/1.0.0"),
                        help="an earlier version to evaluate on the same holdout ('' for none)")
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--review-fpr", type=float, default=0.01)
    parser.add_argument("--decline-fpr", type=float, default=0.001)
    parser.add_argument("--activate", action="store_true",
                        help="make the new version ACTIVE, which the default deployment (config/verdict.yaml) serves")
    parser.add_argument("--skip-candidates", action="store_true", help="train only the XGBoost model")
    args = parser.parse_args()

    work = os.path.join(ROOT, "training", "out", args.version)
    os.makedirs(work, exist_ok=True)
    events, labels, features_csv = (os.path.join(work, n) for n in ("events.jsonl", "labels.csv", "features.csv"))
    run([args.verdict, "generate", "--output", events, "--labels", labels, "--count", str(args.rows),
         "--seed", str(args.seed), "--start", args.start, "--spacing", args.spacing, "--profile", args.profile])
    run([args.verdict, "features", "--config", args.config, "--input", events, "--output", features_csv, "--id-column"])
    names, _, x, y, patterns = load_matrix(features_csv, labels)
    aggregates = aggregate_definitions(args.features)
    split = int(len(y) * 0.8)
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
    patterns_test = patterns[split:]
    print(f"data: {len(y)} events, {y.mean():.4f} fraud; train {split}, holdout {len(y) - split}", flush=True)

    xgb_params = {"objective": "binary:logistic", "max_depth": args.depth, "eta": 0.08, "subsample": 0.8,
                  "colsample_bytree": 0.8, "min_child_weight": 2, "tree_method": "hist", "seed": args.seed,
                  "nthread": 1, "eval_metric": "aucpr"}
    train = xgb.DMatrix(x_train, label=y_train, feature_names=names)
    test = xgb.DMatrix(x_test, label=y_test, feature_names=names)
    booster = xgb.train(xgb_params, train, num_boost_round=args.trees)
    p_xgb = booster.predict(test)
    results = {"xgboost": evaluate(y_test, p_xgb)}
    # What each fraud pattern loses at the review threshold (1% FPR) without the stream's state:
    # the same training without the aggregate columns, and the earlier version, on this holdout.
    by_pattern = {"xgboost": recall_by_pattern(p_xgb, y_test, patterns_test, threshold_at_fpr(p_xgb, y_test, args.review_fpr))}
    aggregate_names = {a["name"] for a in aggregates}
    if aggregate_names & set(names):
        keep = [i for i, n in enumerate(names) if n not in aggregate_names]
        plain = xgb.train(xgb_params, xgb.DMatrix(x_train[:, keep], label=y_train, feature_names=[names[i] for i in keep]),
                          num_boost_round=args.trees)
        p_plain = plain.predict(xgb.DMatrix(x_test[:, keep], feature_names=[names[i] for i in keep]))
        results["xgboost_without_aggregates"] = evaluate(y_test, p_plain)
        by_pattern["xgboost_without_aggregates"] = recall_by_pattern(
            p_plain, y_test, patterns_test, threshold_at_fpr(p_plain, y_test, args.review_fpr))
    if args.baseline and os.path.exists(os.path.join(args.baseline, "card.json")):
        with open(os.path.join(args.baseline, "card.json")) as f:
            baseline_card = json.load(f)
        columns = [names.index(n) for n in baseline_card["features"]]
        earlier = xgb.Booster(model_file=os.path.join(args.baseline, baseline_card["model_file"]))
        p_base = earlier.predict(xgb.DMatrix(x_test[:, columns], feature_names=baseline_card["features"]))
        key = "baseline_" + baseline_card["version"]
        results[key] = evaluate(y_test, p_base)
        by_pattern[key] = recall_by_pattern(p_base, y_test, patterns_test, threshold_at_fpr(p_base, y_test, args.review_fpr))

    if not args.skip_candidates:
        lgb_params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "feature_fraction": 0.8,
                      "bagging_fraction": 0.8, "bagging_freq": 1, "seed": args.seed, "deterministic": True,
                      "num_threads": 1, "verbose": -1}
        lgbm = lgb.train(lgb_params, lgb.Dataset(x_train, label=y_train, feature_name=names), num_boost_round=args.trees)
        results["lightgbm"] = evaluate(y_test, lgbm.predict(x_test))
        forest = RandomForestClassifier(n_estimators=100, max_depth=10, min_samples_leaf=5, random_state=args.seed, n_jobs=1)
        forest.fit(x_train.astype(np.float32), y_train)
        proto = repair_missing_directions(forest, to_onnx(forest, x_train[:1].astype(np.float32),
                                                          options={id(forest): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3}))
        onnx_path = os.path.join(work, "random_forest.onnx")
        onnx.save_model(proto, onnx_path)
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        p_rf = session.run(None, {session.get_inputs()[0].name: x_test.astype(np.float32)})[1][:, 1]
        agreement = float(np.max(np.abs(p_rf - forest.predict_proba(x_test.astype(np.float32))[:, 1])))
        results["random_forest_onnx"] = {**evaluate(y_test, p_rf), "max_delta_onnx_vs_sklearn": agreement}
        lgbm.save_model(os.path.join(work, "lightgbm.txt"))

    legit = np.sort(p_xgb[y_test == 0])
    review_at = float(np.quantile(legit, 1 - args.review_fpr))
    decline_at = float(np.quantile(legit, 1 - args.decline_fpr))
    print(f"thresholds: review_at {review_at:.6f} (FPR {args.review_fpr}), decline_at {decline_at:.6f} (FPR {args.decline_fpr})")

    version_dir = os.path.join(args.out, args.name, args.version)
    os.makedirs(version_dir, exist_ok=True)
    model_path = os.path.join(version_dir, "model.ubj")
    booster.save_model(model_path)
    # Golden vectors: holdout rows, including ones with missing values, with the library's scores.
    rng = np.random.default_rng(args.seed)
    with_missing = np.where(np.isnan(x_test).any(axis=1))[0]
    golden_index = np.unique(np.concatenate([rng.choice(len(y_test), 80, replace=False),
                                             rng.choice(with_missing, min(20, len(with_missing)), replace=False)]))
    golden_rows = x_test[golden_index]
    golden_scores = booster.predict(xgb.DMatrix(golden_rows, feature_names=names))
    train_scores = booster.predict(train)
    card = {
        "name": args.name,
        "version": args.version,
        "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_file": "model.ubj",
        "sha256": sha256(model_path),
        "library": {"name": "xgboost", "version": xgb.__version__, "environment": {
            "python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "lightgbm": lgb.__version__, "scipy": scipy.__version__, "skl2onnx": skl2onnx.__version__,
            "requirements_lock_sha256": sha256(os.path.join(ROOT, "training", "requirements.lock"))}},
        "parameters": {**{k: v for k, v in xgb_params.items()}, "num_boost_round": args.trees},
        "training_data": {"generator": "verdict generate", "profile": args.profile, "spacing_seconds": float(args.spacing),
                          "seed": args.seed, "rows": len(y), "start": args.start,
                          "train_rows": split, "holdout_rows": len(y) - split, "fraud_rate": float(y.mean()),
                          "events_sha256": sha256(events), "features_sha256": sha256(features_csv)},
        "features": names,
        "feature_config_sha256": sha256(args.features),
        # What verify compares: the definitions of these features only (verdict model fingerprint).
        "feature_definitions_sha256": subprocess.run(
            [args.verdict, "model", "fingerprint", "--features", args.features, *names],
            check=True, cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "aggregates": [a for a in aggregates if a["name"] in names],
        "metrics": {f"{model}_{metric}": value for model, values in results.items() for metric, value in values.items()}
        | {f"{model}_recall_at_1pct_fpr_{pattern}": value
           for model, values in by_pattern.items() for pattern, value in values.items()},
        "thresholds": {"review_at": review_at, "decline_at": decline_at,
                       "target_false_positive_rates": {"review": args.review_fpr, "decline": args.decline_fpr}},
        "psi_reference": {"score": psi_bins(train_scores),
                          "features": {name: psi_bins(x_train[:, i]) for i, name in enumerate(names)}},
        "golden_vectors": [{"features": [None if np.isnan(v) else float(v) for v in row], "score": float(s)}
                           for row, s in zip(golden_rows, golden_scores, strict=True)],
    }
    with open(os.path.join(version_dir, "card.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")
    if args.activate:
        with open(os.path.join(args.out, args.name, "ACTIVE"), "w") as f:
            f.write(args.version + "\n")

    try:
        # The local file store is what the default asks for; MLflow 3 wants that said explicitly.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        import mlflow
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file://" + os.path.join(ROOT, "training", "mlruns")))
        mlflow.set_experiment("verdict-fraud")
        with mlflow.start_run(run_name=f"{args.name}-{args.version}"):
            mlflow.log_params({k: str(v) for k, v in card["parameters"].items()})
            mlflow.log_params({"seed": args.seed, "rows": len(y), "trees": args.trees, "depth": args.depth})
            mlflow.log_metrics(card["metrics"])
            mlflow.log_metrics({"review_at": review_at, "decline_at": decline_at})
            mlflow.log_artifact(model_path)
            mlflow.log_artifact(os.path.join(version_dir, "card.json"))
        print(f"mlflow: run logged to {mlflow.get_tracking_uri()}")
    except Exception as error:  # noqa: BLE001  MLflow is a record, not a gate: say so and go on
        print(f"mlflow: not logged ({error})", file=sys.stderr)

    print(f"model: {model_path} (sha256 {card['sha256']})")
    for model, values in results.items():
        print(f"  {model:28s} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    print(f"recall at {args.review_fpr:.0%} FPR by pattern (holdout):")
    for model, values in by_pattern.items():
        print(f"  {model:28s} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
