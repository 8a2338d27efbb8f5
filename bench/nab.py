"""Numenta Anomaly Benchmark: detections of the built-in detector and library baselines.

Streams every NAB series one row at a time through each detector (each row is one
interval; nothing is learned ahead of time) and writes NAB's results layout,
``<out>/<detector>/<category>/<detector>_<name>.csv`` with
``timestamp,value,anomaly_score,label``. With ``--nab-repo`` it then scores them with
NAB's official scorer (``run.py -d ... --optimize --score --normalize``) run by
``--nab-python``. The corpus is not part of the project: pass its path.

    .venv/bin/python bench/nab.py --corpus /work/shared/data/nab --out bench/results/nab \
        --detectors builtin,krcf,riverHST --nab-repo /tmp/NAB --nab-python /tmp/nabvenv/bin/python

Baselines (bench-only dependencies): ``krcf`` (Rust Random Cut Forest, 100 trees,
sample 256, shingle 1) and river's ``HalfSpaceTrees`` behind a ``MinMaxScaler``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from connector.detector.model import DetectorModel

NAMES = {"builtin": "connectorBuiltin", "krcf": "krcf", "riverHST": "riverHST"}


def read_series(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["timestamp"] for r in rows], np.array([float(r["value"]) for r in rows])


def nab_frequency(starts: np.ndarray) -> str:
    """The detector frequency closest to the series' typical spacing."""
    spacing = float(np.median(np.diff(starts.astype(np.int64))))
    if spacing <= 450:
        return "PT5M"
    if spacing <= 2400:
        return "PT10M"
    if spacing <= 6 * 3600:
        return "PT1H"
    return "P1D"


def run_builtin(stamps: list[str], values: np.ndarray, sensitivity: float) -> np.ndarray:
    starts = np.array([s.replace(" ", "T") for s in stamps], dtype="datetime64[s]")
    model = DetectorModel.fit(
        np.empty((1, 0)), starts[:0], nab_frequency(starts), sensitivity=sensitivity
    )
    scores = np.empty(len(values))
    for i, (value, start) in enumerate(zip(values, starts, strict=True)):
        scores[i] = model.score_update(np.array([value]), start).score[0]
    return scores / 100.0


def run_krcf(stamps: list[str], values: np.ndarray, sensitivity: float) -> np.ndarray:
    from krcf import RandomCutForest

    forest = RandomCutForest(
        {
            "dimensions": 1,
            "shingle_size": 1,
            "num_trees": 100,
            "sample_size": 256,
            "output_after": 32,
            "random_seed": 42,
        }
    )
    scores = np.empty(len(values))
    for i, value in enumerate(values):
        point = [float(value)]
        scores[i] = forest.score(point)
        forest.update(point)
    # RCF scores are unbounded (about 0-5); NAB wants 0-1, any monotone map will do.
    return scores / (1.0 + scores)


def run_river_hst(stamps: list[str], values: np.ndarray, sensitivity: float) -> np.ndarray:
    from river import anomaly, preprocessing

    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(
        n_trees=25, height=15, window_size=250, seed=42
    )
    scores = np.empty(len(values))
    for i, value in enumerate(values):
        point = {"value": float(value)}
        scores[i] = model.score_one(point)
        model.learn_one(point)
    return scores


RUNNERS: dict[str, Callable[[list[str], np.ndarray, float], np.ndarray]] = {
    "builtin": run_builtin,
    "krcf": run_krcf,
    "riverHST": run_river_hst,
}


def detect_file(job: tuple[str, Path, Path, Path, dict[str, list[list[str]]], float]) -> float:
    detector, data_file, corpus_data, out, windows, sensitivity = job
    relative = data_file.relative_to(corpus_data).as_posix()
    stamps, values = read_series(data_file)
    began = time.perf_counter()
    scores = RUNNERS[detector](stamps, values, sensitivity)
    elapsed = time.perf_counter() - began
    starts = np.array([s.replace(" ", "T") for s in stamps], dtype="datetime64[s]")
    label = np.zeros(len(values), dtype=int)
    for lo, hi in windows.get(relative, []):
        lo64 = np.datetime64(lo.replace(" ", "T")[:19], "s")
        hi64 = np.datetime64(hi.replace(" ", "T")[:19], "s")
        label[(starts >= lo64) & (starts <= hi64)] = 1
    name = NAMES[detector]
    target = out / name / data_file.parent.name / f"{name}_{data_file.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for stamp, value, score, flag in zip(stamps, values, scores, label, strict=True):
            writer.writerow([stamp, repr(float(value)), f"{score:.12g}", flag])
    return elapsed


def score_with_nab(names: list[str], out: Path, repo: Path, python: str) -> dict[str, object]:
    """Copy results into a NAB checkout and run its official scorer."""
    thresholds_path = repo / "config" / "thresholds.json"
    thresholds = json.loads(thresholds_path.read_text())
    for name in names:
        shutil.rmtree(repo / "results" / name, ignore_errors=True)
        shutil.copytree(out / name, repo / "results" / name)
        # The scorer reads a threshold entry per detector; --optimize overwrites it.
        thresholds.setdefault(
            name,
            {
                p: {"score": 0.0, "threshold": 0.5}
                for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
            },
        )
    thresholds_path.write_text(json.dumps(thresholds, indent=2))
    command = [python, "run.py", "-d", ",".join(names), "--optimize", "--score", "--normalize"]
    completed = subprocess.run(
        command, cwd=repo, input="y\n" * 20, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"NAB scorer failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
        )
    final = json.loads((repo / "results" / "final_results.json").read_text())
    return {name: final[name] for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="NAB corpus: data/ and labels/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--detectors", default="builtin", help=f"comma-separated of {sorted(RUNNERS)}"
    )
    parser.add_argument("--sensitivity", type=float, default=0.5)
    parser.add_argument("--nab-repo", type=Path, help="a numenta/NAB checkout to score with")
    parser.add_argument("--nab-python", default="python", help="interpreter that runs NAB's run.py")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--reuse", action="store_true", help="score existing detections instead of rerunning"
    )
    args = parser.parse_args()

    corpus_data = args.corpus / "data"
    windows = json.loads((args.corpus / "labels" / "combined_windows.json").read_text())
    files = sorted(corpus_data.glob("*/*.csv"))
    detectors = args.detectors.split(",")
    for detector in detectors:
        if args.reuse and (args.out / NAMES[detector]).is_dir():
            print(f"{NAMES[detector]}: reusing the detections in {args.out / NAMES[detector]}")
            continue
        shutil.rmtree(args.out / NAMES[detector], ignore_errors=True)
        jobs = [(detector, f, corpus_data, args.out, windows, args.sensitivity) for f in files]
        began = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            elapsed = list(pool.map(detect_file, jobs))
        points = sum(len(read_series(f)[1]) for f in files)
        print(
            f"{NAMES[detector]}: {len(files)} files, {points} points, "
            f"{points / sum(elapsed):,.0f} points/s per core, "
            f"wall {time.perf_counter() - began:.0f} s"
        )
    if args.nab_repo:
        scores = score_with_nab(
            [NAMES[d] for d in detectors], args.out, args.nab_repo, args.nab_python
        )
        (args.out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
        for name, profiles in scores.items():
            line = ", ".join(f"{p} {v:.1f}" for p, v in profiles.items())
            print(f"NAB {name}: {line}")


if __name__ == "__main__":
    main()
