"""Files and values a user (or someone else) hands the apps: nothing runs code, nothing trains 0 steps,
no weight overflows, every bad value is one line, foreign per-sample files state their order.

Run as a user would: each app as a subprocess on the bundled digits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import RECORD_DRAWS, REPO, TINY, run_cli, run_training
from draw_recorder import load_draws
from sample_importance.dataset.digits import DigitsSource
from sample_importance.errors import UserError
from sample_importance.sampler.index_sampler import IndexSampler
from sample_importance.sampler.method import hardness_weights

TRAIN = ["-m", "sample_importance.train"]
SCORE = ["-m", "sample_importance.score"]
EL2N = ["-m", "sample_importance.el2n"]
REPORT = ["-m", "sample_importance.report"]


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout[-2000:] + result.stderr[-2000:]
    # Lightning may warn first (e.g. resuming a checkpoint from another folder); the error is one line, last
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in result.stderr, result.stderr[
        -3000:
    ]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def digits_train_labels() -> torch.Tensor:
    """The digits training set's labels in index order (dataset=digits, no subset)."""
    return DigitsSource().load().train_labels


# -- a file that would run code ---------------------------------------------------------------
class RunsACommand:
    """Pickles as a call of os.system: loading the file with weights_only=False runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def write_hostile_file(path: Path, marker: Path, like: str = "checkpoint") -> Path:
    """A file shaped like one of ours (a checkpoint, or a per-sample record) that also holds the payload."""
    payload = RunsACommand(f"touch {marker}")
    if like == "checkpoint":
        content = {"state_dict": {}, "global_step": 0, "epoch": 0, "payload": payload}
    else:
        content = {
            "score": torch.rand(len(digits_train_labels()), dtype=torch.float64),
            "label": digits_train_labels(),
            "payload": payload,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content, path)
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real digits run: E=1, 2 epochs; it has burn_in_end_epoch1.ckpt, last.ckpt, sample_weights.pt."""
    run = tmp_path_factory.mktemp("finished") / "run"
    run_training(["sampler.burn_in_epochs=1", "schedule.max_epochs=2"], run)
    return run


def copy_run(run: Path, destination: Path, seed: int | None = None) -> Path:
    """A copy of a run folder; with ``seed``, recorded as that seed's run (the report counts one
    run per seed of a group, so two copies of one seed would be one run)."""
    shutil.copytree(run, destination)
    if seed is not None:
        summary = json.loads((destination / "summary.json").read_text())
        (destination / "summary.json").write_text(json.dumps({**summary, "seed": seed}))
        config = destination / ".hydra" / "config.yaml"
        config.write_text(re.sub(r"(?m)^seed: .*$", f"seed: {seed}", config.read_text()))
    return destination


HOSTILE_ENTRY_POINTS = {
    # name: (how the file is handed over, the command line); {file} and {run} are filled in
    "train ckpt_path": ("checkpoint", "outside", [*TRAIN, *TINY, "ckpt_path={file}", "hydra.run.dir={run}"]),
    "train auto-resume": ("checkpoint", "checkpoints/last.ckpt", [*TRAIN, *TINY, "hydra.run.dir={run}"]),
    "score ckpt_path": (
        "checkpoint",
        "outside",
        [*SCORE, "dataset=digits", "ckpt_path={file}", "hydra.run.dir={run}"],
    ),
    "el2n auto-resume": (
        "checkpoint",
        "model0/checkpoints/last.ckpt",
        [*EL2N, *TINY, "el2n.models=1", "el2n.epochs=1", "hydra.run.dir={run}"],
    ),
    "weights_file": (
        "record",
        "outside",
        [
            *TRAIN,
            *TINY,
            "sampler.weights_file={file}",
            "sampler.burn_in_epochs=0",
            "schedule.max_epochs=1",
            "hydra.run.dir={run}",
        ],
    ),
    "scores_file": (
        "record",
        "outside",
        [
            *TRAIN,
            *TINY,
            "sampler=uniform",
            "dataset.prune_scores_file={file}",
            "schedule.max_epochs=1",
            "hydra.run.dir={run}",
        ],
    ),
}


@pytest.mark.parametrize("entry_point", HOSTILE_ENTRY_POINTS)
def test_a_file_that_would_run_code_is_refused_by_every_app(entry_point, tmp_path):
    like, where, command = HOSTILE_ENTRY_POINTS[entry_point]
    marker, run = tmp_path / "payload_ran", tmp_path / "run"
    file = tmp_path / "shared.pt" if where == "outside" else run / where
    write_hostile_file(file, marker, like)
    result = run_cli([part.format(file=file, run=run) for part in command], cwd=REPO, timeout=240)
    assert not marker.exists(), f"{entry_point}: the file's code ran"
    assert_one_line_error(result, "can run code")


@pytest.mark.parametrize("damage", ["would run code", "truncated"])
def test_report_lists_a_run_with_an_unreadable_weights_file_and_writes_the_rest(
    damage, finished_run, tmp_path
):
    good = copy_run(finished_run, tmp_path / "sweep" / "0")
    bad = copy_run(finished_run, tmp_path / "sweep" / "1", seed=1)
    marker = tmp_path / "payload_ran"
    if damage == "truncated":
        data = (bad / "sample_weights.pt").read_bytes()
        (bad / "sample_weights.pt").write_bytes(data[: len(data) // 2])
    else:
        write_hostile_file(bad / "sample_weights.pt", marker, like="record")
    result = run_cli(
        [*REPORT, str(tmp_path / "sweep"), "--no-progress", "--no-images"], cwd=REPO, timeout=240
    )
    assert not marker.exists()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "1 run(s) with unreadable files" in result.stderr
    text = (tmp_path / "sweep" / "report" / "report.md").read_text()
    unreadable = text.split("## Unreadable runs", 1)[1].split("##", 1)[0]
    assert "sample_weights.pt" in unreadable and str(bad) in unreadable and str(good) not in unreadable
    # the rest is still there: accuracy figure, and the good run's class importance
    assert list((tmp_path / "sweep" / "report").glob("fig1_accuracy_*.png"))
    assert list((tmp_path / "sweep" / "report").glob("fig3_class_importance_*.png"))


# -- runs that would train nothing --------------------------------------------------------------
@pytest.fixture(scope="module")
def labelled_scores(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scores") / "scores.pt"
    labels = digits_train_labels()
    torch.save({"score": torch.rand(len(labels), dtype=torch.float64), "label": labels}, path)
    return path


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["schedule.batch_size=4096"], "1438 training samples, fewer than one batch of 4096"),
        (["dataset.train_samples_per_class=1"], "10 training samples, fewer than one batch of 32"),
        (
            ["sampler=uniform", "dataset.prune_scores_file={scores}", "dataset.prune_fraction=0.999"],
            "1 training sample, fewer than one batch of 32",
        ),
    ],
)
def test_a_run_that_would_train_zero_steps_is_refused(overrides, fragment, labelled_scores, tmp_path):
    overrides = [o.format(scores=labelled_scores) for o in overrides]
    result = run_cli([*TRAIN, *TINY, *overrides, f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, timeout=120)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "run" / "summary.json").exists()


# -- weights that would overflow -------------------------------------------------------------------
def test_huge_finite_weights_draw_in_proportion():
    sampler = IndexSampler(4, seed=0)
    sampler.set_weights(torch.tensor([1e308, 0.0, 1e308, 0.0], dtype=torch.float64))
    draws = torch.cat([sampler.global_sequence(epoch) for epoch in range(500)])
    counts = torch.bincount(draws, minlength=4)
    assert counts[1] == counts[3] == 0
    assert abs(counts[0] / len(draws) - 0.5) < 0.05  # both heavy samples, not the first alone


def test_weights_files_of_huge_values_train_on_both_heavy_samples(tmp_path):
    labels = digits_train_labels()
    weights = torch.zeros(len(labels), dtype=torch.float64)
    weights[[5, 9]] = 1e308
    for name in ("a.pt", "b.pt"):  # their mean: the sum of the two files overflows
        torch.save({"weight": weights, "label": labels}, tmp_path / name)
    run_training(
        [
            f"sampler.weights_file=[{tmp_path / 'a.pt'},{tmp_path / 'b.pt'}]",
            "sampler.burn_in_epochs=0",
            "schedule.max_epochs=1",
            RECORD_DRAWS,
        ],
        tmp_path / "run",
    )
    draws = load_draws(tmp_path / "run")[0]
    assert set(draws.tolist()) == {5, 9}
    assert 0.3 < float((draws == 5).double().mean()) < 0.7


@pytest.mark.parametrize("gamma", [2000.0, -2000.0, -1e6, 1e6])
def test_weights_are_finite_for_any_finite_gamma_and_keep_their_order(gamma):
    hardness = torch.tensor(
        [0.1, 0.2, 0.4, 0.6], dtype=torch.float64
    )  # 0.6^2000 underflows, 0.1^-2000 overflows
    weights, fallback = hardness_weights(hardness, gamma)
    assert torch.isfinite(weights).all() and fallback == ""  # not "every weight is zero"
    heaviest = 3 if gamma > 0 else 0
    assert weights.argmax() == heaviest and weights[heaviest] == 1
    assert torch.equal(
        hardness_weights(hardness, 0.5)[0], hardness.pow(0.5)
    )  # ordinary gammas: the paper's h^gamma


@pytest.mark.parametrize("gamma", ["-2000", "1e6"])  # -2000: 1e91 overflowed float32 histograms; 1e6: all 0
def test_training_with_a_huge_gamma_runs_and_records_finite_weights(gamma, tmp_path):
    run = tmp_path / "run"
    summary = run_training(
        [
            "sampler.burn_in_epochs=1",
            "schedule.max_epochs=2",
            f"sampler.gamma={gamma}",
            "++trainer.limit_train_batches=3",
        ],
        run,
    )
    weights = torch.load(run / "sample_weights.pt", weights_only=True)["weight"]
    assert torch.isfinite(weights).all() and weights.max() > 0
    assert summary["sampler_settings"]["weights_fallback"] is None


def test_score_with_gamma_minus_a_million_writes_finite_weights(finished_run, tmp_path):
    result = run_cli(
        [
            *SCORE,
            "dataset=digits",
            f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}",
            "sampler.gamma=-1e6",
            f"hydra.run.dir={tmp_path / 'score'}",
        ],
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = torch.load(tmp_path / "score" / "sample_weights.pt", weights_only=True)
    assert torch.isfinite(record["weight"]).all() and record["weight"].max() == 1
    assert record["weight"].argmax() == record["p_true"].argmax()  # the easiest sample weighs most


# -- one line instead of a traceback ------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["dataset.train_samples_per_class=0"], ["dataset.train_samples_per_class", ">= 1"]),
        (["dataset.train_samples_per_class=-3"], ["dataset.train_samples_per_class"]),
        (["dataset.imbalance=banana"], ["dataset.imbalance", "class_fraction"]),
        (["dataset.num_workers=-1"], ["dataset.num_workers", ">= 0"]),
        ([f"seed={2**32}"], ["seed", "2^32"]),
        (["schedule.momentum=0"], ["schedule.nesterov=true", "schedule.momentum"]),
        (["schedule.lr_decay_factor=0"], ["schedule.lr_decay_factor"]),
        (["schedule.lr_decay_factor=-0.5"], ["schedule.lr_decay_factor"]),
        (["trainer=ddp_cpu", "trainer.strategy=ddp_spawn"], ["ddp_spawn", "trainer=ddp_cpu"]),
        (["+trainer.strategy=ddp_spawn"], ["ddp_spawn", "trainer=ddp_cpu"]),
        (["sampler.weights_order=reversed"], ["sampler.weights_order"]),
        (
            ["dataset.exclude_classes=[8,eight]"],
            ["dataset.exclude_classes: no class 'eight'", "the classes are 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"],
        ),
    ],
)
def test_bad_values_are_one_line_errors(overrides, fragments, tmp_path):
    result = run_cli([*TRAIN, *TINY, *overrides, f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, timeout=120)
    assert_one_line_error(result, *fragments)


@pytest.mark.parametrize("key", ["hydra.run.dir", "paths.log_dir"])
def test_an_output_folder_that_cannot_be_made_is_one_line(key, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run_cli([*TRAIN, *TINY, f"{key}={blocker / 'run'}"], cwd=REPO, timeout=60)
    assert_one_line_error(result, key, "is a file, not a folder")


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (['dataset.exclude_classes=["8"]'], ["checkpoint of another network", "9 classes", "[10,"]),
        (["dataset.train_samples_per_class=50"], ["covers 1438 samples", "500"]),
    ],
)
def test_resuming_with_another_dataset_is_one_line(overrides, fragments, finished_run, tmp_path):
    # Past the settings check (resume_allow_changes), the checkpoint itself must not fit.
    result = run_cli(
        [
            *TRAIN,
            *TINY,
            *overrides,
            "sampler.burn_in_epochs=1",
            "schedule.max_epochs=3",
            "resume_allow_changes=true",
            f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=REPO,
        timeout=120,
    )
    assert_one_line_error(result, *fragments)


def test_resuming_at_the_switch_with_a_truncated_weights_record_is_one_line(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    (run / "summary.json").unlink()  # an interrupted run, not a finished one
    data = (run / "sample_weights.pt").read_bytes()
    (run / "sample_weights.pt").write_bytes(data[:200])
    result = run_cli(
        [
            *TRAIN,
            *TINY,
            "sampler.burn_in_epochs=1",
            "schedule.max_epochs=2",
            f"hydra.run.dir={run}",
            f"ckpt_path={run / 'checkpoints' / 'burn_in_end_epoch1.ckpt'}",
        ],
        cwd=REPO,
        timeout=120,
    )
    assert_one_line_error(result, "sample_weights.pt", "not a readable torch file", "delete it")


# -- per-sample files from elsewhere ----------------------------------------------------------------
@pytest.mark.parametrize("key", ["sampler.weights_file", "dataset.prune_scores_file"])
def test_a_bare_npy_file_is_refused_unless_its_order_is_stated(key, tmp_path):
    np.save(tmp_path / "values.npy", np.random.default_rng(0).random(len(digits_train_labels())))
    sampler = ["sampler.burn_in_epochs=0"] if key == "sampler.weights_file" else ["sampler=uniform"]
    command = [
        *TRAIN,
        *TINY,
        *sampler,
        f"{key}={tmp_path / 'values.npy'}",
        "schedule.max_epochs=1",
        "++trainer.limit_train_batches=2",
    ]
    refused = run_cli([*command, f"hydra.run.dir={tmp_path / 'refused'}"], cwd=REPO, timeout=120)
    order_key = f"{key.replace('_file', '_order')}=index"
    assert_one_line_error(refused, "no labels and no index map", order_key)
    stated = run_cli([*command, order_key, f"hydra.run.dir={tmp_path / 'stated'}"], cwd=REPO, timeout=120)
    assert stated.returncode == 0, stated.stderr[-3000:]


def test_an_index_map_puts_each_value_on_its_sample():
    from sample_importance.sampler.weights_file import align_to_training_set

    labels = torch.tensor([0, 1, 1, 2, 0])
    values = torch.tensor([10.0, 11.0, 12.0, 13.0, 14.0], dtype=torch.float64)  # by our index
    order = torch.tensor([4, 0, 2, 1, 3])  # the file lists samples in this order
    record = {"index": order, "label": labels[order], "p_true": values[order] / 100}
    aligned, rest = align_to_training_set(values[order], record, labels, "f.pt", "sampler.weights_file")
    assert torch.equal(aligned, values) and torch.equal(rest["p_true"], values / 100)
    with pytest.raises(UserError, match="not a permutation"):
        align_to_training_set(
            values, {"index": torch.tensor([0, 0, 1, 2, 3])}, labels, "f.pt", "sampler.weights_file"
        )
    with pytest.raises(UserError, match="labels differ"):
        align_to_training_set(
            values, {"index": order, "label": labels}, labels, "f.pt", "sampler.weights_file"
        )


def readme_block(marker: str) -> str:
    """The python code block that follows ``marker`` in the README."""
    text = (REPO / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.S).group(1)


def test_the_readmes_data_diet_conversion_aligns_class_sorted_scores(tmp_path, monkeypatch):
    from sample_importance.sampler.weights_file import align_to_training_set, load_values

    source = DigitsSource().load()
    our_images, our_labels = source.train_images.numpy(), source.train_labels.numpy()
    our_scores = np.random.default_rng(1).random(len(our_labels))
    their_order = our_labels.argsort()  # data_diet sorts its training set by class (numpy's default sort)
    namespace = {
        "scores": our_scores[their_order],
        "their_images": our_images[their_order],
        "their_labels": our_labels[their_order],
        "our_images": our_images,
        "our_labels": our_labels,
    }
    monkeypatch.chdir(tmp_path)
    exec(readme_block("<!-- data_diet conversion -->"), namespace)
    values, record = load_values(tmp_path / "data_diet_el2n.pt", "sampler.scores_file")
    aligned, _ = align_to_training_set(
        values, record, source.train_labels, "data_diet_el2n.pt", "sampler.scores_file"
    )
    np.testing.assert_array_equal(aligned.numpy(), our_scores)
