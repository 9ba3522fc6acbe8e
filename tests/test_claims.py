"""`make claims`: the CLAIMS.md writer (scripts/claims.py) and, marked slow, the whole target on a
small subset (scripts/claims.sh: sweeps, reports, then the file)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sample_importance.report.runs import Run

REPO = Path(__file__).resolve().parent.parent


def load_writer():
    spec = importlib.util.spec_from_file_location("claims_writer", REPO / "scripts" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


claims = load_writer()


def arm_with(tmp_path: Path, weights: list[np.ndarray], labels: np.ndarray, augmented=()) -> object:
    """An arm whose runs wrote ``sample_weights.pt`` (one per seed), indices shuffled as a sampler may."""
    runs = []
    for seed, w in enumerate(weights):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        order = torch.randperm(len(w), generator=torch.Generator().manual_seed(seed))
        torch.save(
            {"index": order, "label": torch.as_tensor(labels)[order], "weight": torch.as_tensor(w)[order]},
            folder / "sample_weights.pt",
        )
        runs.append(Run(folder, summary={"augmented_classes": list(augmented)}))
    return claims.Arm({}, {"seeds": list(range(len(weights)))}, runs)


def row(seeds, best):
    return {"seeds": seeds, "best_acc_per_seed": best}


def test_versus_says_better_worse_or_on_par_from_the_paired_seeds():
    base = row([1, 2, 3, 4], [0.80, 0.82, 0.81, 0.83])
    better = claims.Arm(
        {}, row([4, 3, 2, 1], [0.85, 0.83, 0.84, 0.82]), []
    )  # +0.02 on every seed, listed reversed
    noisy = claims.Arm({}, row([1, 2, 3, 4], [0.81, 0.81, 0.82, 0.82]), [])  # +0.01, -0.01, +0.01, -0.01
    few = claims.Arm({}, row([1, 2], [0.9, 0.9]), [])
    reference = claims.Arm({}, base, [])
    result = claims.versus(better, reference)
    assert result["word"] == "better" and result["diff"] == pytest.approx(0.02)
    assert claims.versus(reference, better)["word"] == "worse"
    assert claims.versus(noisy, reference)["word"] == "on par"
    assert claims.versus(few, reference)["word"] == "too few seeds to test"


def test_verdict_of_sub_checks():
    assert claims.verdict([True, True, None]) == claims.HOLDS
    assert claims.verdict([True, False]) == claims.PARTLY
    assert claims.verdict([False, None]) == claims.FAILS
    assert claims.verdict([None, None]) == claims.UNTESTABLE


def test_policy_shares_sum_the_weight_of_each_policy(tmp_path):
    # sample p*N + i is image i under policy p: give policy 2 three times the weight of the others
    images, policies = 6, 5
    w = np.ones(images * policies)
    w[2 * images : 3 * images] = 3.0
    arm = arm_with(tmp_path, [w, w * 2], np.zeros(images * policies, dtype=np.int64))
    shares = claims.policy_shares(arm, policies)
    expected = np.array([1, 1, 3, 1, 1]) / 7
    np.testing.assert_allclose(shares, [expected, expected])


def test_class_shares_compare_a_replicated_sample_with_another(tmp_path):
    labels = np.array([0, 0, 1, 1, 1, 1, 2, 2])  # class 1 replicated
    w = np.array([1.0, 1.0, 0.25, 0.25, 0.25, 0.25, 1.0, 1.0])
    shares = claims.class_shares(arm_with(tmp_path, [w], labels, augmented=[1]))
    np.testing.assert_allclose(shares["ratio"], [0.25])
    np.testing.assert_allclose(shares["weight_share"], [1.0 / 5.0])
    assert shares["sample_share"] == pytest.approx(0.5)


def test_the_generated_block_is_replaced_and_the_notes_kept():
    old = f"# Claims\n\nintro\n\n{claims.BEGIN}\nold numbers\n{claims.END}\n\n## Notes\nkept by hand\n"
    new = claims.merge(old, [claims.BEGIN, "new numbers", claims.END])
    assert (
        new == f"# Claims\n\nintro\n\n{claims.BEGIN}\nnew numbers\n{claims.END}\n\n## Notes\nkept by hand\n"
    )
    # a file without the markers keeps its text under the new block
    fresh = claims.merge("# Claims\nhand text\n", [claims.BEGIN, "x", claims.END])
    assert fresh.index(claims.END) < fresh.index("hand text") and fresh.startswith("# Claims\n")


def test_a_missing_runs_folder_is_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "claims.py"),
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "CLAIMS.md"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "run scripts/claims.sh first" in result.stderr
    assert not (tmp_path / "CLAIMS.md").exists()


def test_every_paper_experiment_named_exists_with_its_sweep():
    for names in claims.PAPER_EXPERIMENTS.values():
        for name in names:
            path = REPO / "configs" / "experiment" / "paper" / f"{name}.yaml"
            assert path.is_file(), name
            assert len(claims.sweep_jobs(name)) >= 4  # four seeds at least


def test_a_data_set_without_a_class_reads_the_same_before_and_after_the_option(tmp_path):
    """``fashion_mnist9`` (a WithoutClasses source) became fashion_mnist without Shirt (the option)."""

    def arm(choice: str, dataset: dict):
        run = Run(tmp_path, summary={"dataset": choice}, config={"dataset": dataset})
        return claims.Arm({}, row([0], [0.5]), [run])

    old = arm("fashion_mnist9", {"source": {"exclude": ["Shirt"]}})
    new = arm("fashion_mnist", {"exclude_classes": ["Shirt"]})
    plain = arm("fashion_mnist", {"exclude_classes": None})
    assert old.dataset == new.dataset == "fashion_mnist without Shirt" and plain.dataset == "fashion_mnist"
    # CIFAR-9's paper-scale size: 45,000 training images of 9 classes
    assert claims.training_set(claims.compose(["experiment=paper/fig14_cifar9"]).dataset) == (45_000, 9, 32)


@pytest.mark.slow
def test_make_claims_on_a_subset_writes_numbers_that_match_the_report(tmp_path):
    """C4 end to end on a few images: EL2N's scores, the 7-method sweep over 3 seeds, its report, the file."""
    out = tmp_path / "CLAIMS.md"
    out.write_text("# Claims\n\n## Notes\nwritten by hand\n")
    env = dict(
        os.environ,
        PY=sys.executable,
        CLAIMS="C4",
        SEEDS="2020,2021,2022",
        CLAIMS_OUT=str(out),
        CLAIMS_EXTRA="trainer.max_epochs=2 dataset.train_samples_per_class=6 "
        "dataset.test_samples_per_class=10",
        OMP_NUM_THREADS="1",
    )
    result = subprocess.run(
        [str(REPO / "scripts" / "claims.sh"), str(tmp_path / "runs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    assert "written by hand" in text and text.count(claims.BEGIN) == 1
    report = json.loads((tmp_path / "runs" / "report_C4" / "report.json").read_text())
    (comparison,) = report["comparisons"]
    ours = next(g for g in comparison["groups"] if g["label"].startswith("ours"))
    assert ours["seeds"] == [2020, 2021, 2022]
    assert f"| **ours** | {ours['max_mean_acc']:.4f} ± {ours['std_at_max']:.4f}" in text
    assert (
        len([line for line in text.splitlines() if line.startswith("| SGD-")]) == 4
    )  # Scan, SPV, Rank, Prop
    assert "Share of the method's weight per policy" in text
    # a second run finds every sweep done and only rewrites the file
    again = subprocess.run(
        [str(REPO / "scripts" / "claims.sh"), str(tmp_path / "runs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0 and "done before, skipped" in again.stdout
