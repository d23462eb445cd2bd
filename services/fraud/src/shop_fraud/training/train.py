"""Fit the logistic regression on the synthetic data set and ship its weights with the package.

    .venv/bin/python -m shop_fraud.training.train --doc docs/fraud-model.md

Newton's method (iteratively reweighted least squares) with an L2 penalty on the weights (not the
bias), in pure Python: 18 features in [0, 1] and 15,000 training rows converge in a few
iterations, in seconds, with no numerical library. The data set's last quarter is held out; the
script prints precision and recall there for the model alone, the rules alone and the service's
blended decision, writes the weights (with those figures) to `shop_fraud/data/model.json`, and with
`--doc` rewrites the metrics block of the model's documentation. Same seed, same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shop_fraud.domain.model import FEATURES, LogisticModel, features, sigmoid
from shop_fraud.domain.policy import Policy
from shop_fraud.domain.scoring import Decision, assess
from shop_fraud.shipped import MODEL_FILE, disposable_domains
from shop_fraud.training.generate import DEFAULT_FRAUD_RATE, Sample, generate

DEFAULT_SEED = 2026
DEFAULT_SAMPLES = 20_000
HOLDOUT_SHARE = 0.25
L2 = 1.0
MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / MODEL_FILE
DOC_BEGIN = "<!-- metrics:begin -->"
DOC_END = "<!-- metrics:end -->"
COMMAND = "make install && .venv/bin/python -m shop_fraud.training.train --doc docs/fraud-model.md"

Matrix = list[list[float]]


def solve(a: Matrix, b: list[float]) -> list[float]:
    """Solve a x = b by Gaussian elimination with partial pivoting (a is small and well conditioned)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        head = m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / head[col]
            if factor:
                row = m[r]
                for c in range(col, n + 1):
                    row[c] -= factor * head[c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


@dataclass(frozen=True)
class Fit:
    bias: float
    weights: tuple[float, ...]
    iterations: int


def fit(rows: Sequence[Sequence[float]], labels: Sequence[bool], *, l2: float = L2, max_iterations: int = 50) -> Fit:
    """Penalised maximum likelihood by Newton steps; column 0 of the design is the bias."""
    d = len(rows[0]) + 1
    design = [[1.0, *row] for row in rows]
    beta = [0.0] * d
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        gradient = [l2 * beta[j] if j else 0.0 for j in range(d)]
        hessian = [[(l2 if i == j and i else 0.0) for j in range(d)] for i in range(d)]
        for x, y in zip(design, labels, strict=True):
            p = sigmoid(math.fsum(b * v for b, v in zip(beta, x, strict=True)))
            residual, w = p - (1.0 if y else 0.0), p * (1.0 - p)
            for i, xi in enumerate(x):
                if xi == 0.0:
                    continue  # most features are 0: skip their row
                gradient[i] += residual * xi
                wxi, row = w * xi, hessian[i]
                for j in range(i, d):
                    row[j] += wxi * x[j]
        for i in range(d):
            for j in range(i):
                hessian[i][j] = hessian[j][i]
        step = solve(hessian, gradient)
        beta = [b - s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return Fit(beta[0], tuple(beta[1:]), iterations)


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


def confusion(flagged: Sequence[bool], truth: Sequence[bool]) -> Confusion:
    pairs = list(zip(flagged, truth, strict=True))
    return Confusion(
        tp=sum(f and t for f, t in pairs),
        fp=sum(f and not t for f, t in pairs),
        fn=sum(t and not f for f, t in pairs),
        tn=sum(not f and not t for f, t in pairs),
    )


def roc_auc(scores: Sequence[float], truth: Sequence[bool]) -> float:
    """Probability that a random fraud scores above a random legitimate purchase (ties count half)."""
    ranked = sorted(zip(scores, truth, strict=True), key=lambda pair: pair[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    positives = sum(truth)
    negatives = len(truth) - positives
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _version(bias: float, weights: Sequence[float]) -> str:
    payload = json.dumps({"features": FEATURES, "bias": bias, "weights": list(weights)}, sort_keys=True)
    return "lr-" + hashlib.sha256(payload.encode()).hexdigest()[:10]


def evaluate(model: LogisticModel, holdout: Sequence[Sample], policy: Policy) -> dict[str, Any]:
    truth = [s.fraud for s in holdout]
    probabilities = [model.probability(features(s.signals, policy)) for s in holdout]
    outcomes = [assess(s.signals, policy, model) for s in holdout]
    return {
        "samples": len(holdout),
        "fraud": sum(truth),
        "roc_auc": round(roc_auc(probabilities, truth), 4),
        "model_p_ge_0_5": confusion([p >= 0.5 for p in probabilities], truth).as_json(),
        "rules_score_ge_review": confusion(
            [o.rule_score >= policy.review_threshold for o in outcomes], truth
        ).as_json(),
        "service_review_or_block": confusion([o.decision is not Decision.ALLOW for o in outcomes], truth).as_json(),
        "service_block": confusion([o.decision is Decision.BLOCK for o in outcomes], truth).as_json(),
    }


def train(seed: int = DEFAULT_SEED, samples: int = DEFAULT_SAMPLES, *, l2: float = L2) -> dict[str, Any]:
    """Generate, split, fit and evaluate; returns the model document that is written as JSON."""
    policy = Policy(disposable_domains=disposable_domains())
    data = generate(samples, seed)
    cut = len(data) - int(len(data) * HOLDOUT_SHARE)
    training, holdout = data[:cut], data[cut:]
    result = fit([features(s.signals, policy) for s in training], [s.fraud for s in training], l2=l2)
    bias = round(result.bias, 6)
    weights = [round(w, 6) for w in result.weights]
    model = LogisticModel(_version(bias, weights), bias, tuple(weights))
    return {
        "version": model.version,
        "features": list(FEATURES),
        "bias": bias,
        "weights": weights,
        "training": {
            "seed": seed,
            "samples": samples,
            "training_samples": len(training),
            "fraud_rate": DEFAULT_FRAUD_RATE,
            "l2": l2,
            "newton_iterations": result.iterations,
            "policy": {"review_threshold": policy.review_threshold, "block_threshold": policy.block_threshold},
        },
        "holdout": evaluate(model, holdout, policy),
    }


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def report(document: dict[str, Any]) -> str:
    """The metrics as a markdown block (printed, and written into the documentation)."""
    holdout, training = document["holdout"], document["training"]
    policy = training["policy"]
    rows = [
        ("model alone, probability >= 0.5", holdout["model_p_ge_0_5"]),
        (f"rules alone, rule score >= {policy['review_threshold']}", holdout["rules_score_ge_review"]),
        (f"service: REVIEW or BLOCK (score >= {policy['review_threshold']})", holdout["service_review_or_block"]),
        (f"service: BLOCK (score >= {policy['block_threshold']})", holdout["service_block"]),
    ]
    lines = [
        f"Model `{document['version']}`: seed {training['seed']}, {training['samples']} samples "
        f"({training['training_samples']} to train, {holdout['samples']} held out with {holdout['fraud']} fraud), "
        f"L2 {training['l2']}, {training['newton_iterations']} Newton iterations. "
        f"ROC AUC of the model on the held-out split: {holdout['roc_auc']:.4f}.",
        "",
        "| held-out split | precision | recall | TP | FP | FN | TN |",
        "|----------------|-----------|--------|----|----|----|----|",
    ]
    for label, m in rows:
        precision, recall = _percent(m["precision"]), _percent(m["recall"])
        lines.append(f"| {label} | {precision} | {recall} | {m['tp']} | {m['fp']} | {m['fn']} | {m['tn']} |")
    lines += ["", "Reproduce:", "", "```", COMMAND, "```"]
    return "\n".join(lines)


def write_model(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def update_doc(path: Path, block: str) -> None:
    text = path.read_text(encoding="utf-8")
    head, begin, rest = text.partition(DOC_BEGIN)
    _, end, tail = rest.partition(DOC_END)
    if not begin or not end:
        raise SystemExit(f"{path} has no {DOC_BEGIN} ... {DOC_END} block")
    path.write_text(f"{head}{DOC_BEGIN}\n{block}\n{DOC_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic data set")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="size of the data set")
    parser.add_argument("--l2", type=float, default=L2, help="L2 penalty on the weights")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where the weights go (JSON)")
    parser.add_argument("--doc", type=Path, help="markdown file whose metrics block is rewritten")
    args = parser.parse_args(argv)
    document = train(args.seed, args.samples, l2=args.l2)
    block = report(document)
    print(block)
    write_model(document, args.out)
    print(f"\nwrote {args.out}")
    if args.doc is not None:
        update_doc(args.doc, block)
        print(f"updated {args.doc}")


if __name__ == "__main__":
    main()
