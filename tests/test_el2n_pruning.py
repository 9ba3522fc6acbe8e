"""EL2N scores and pruning (Section 4): the scores' definition, which samples are pruned, wrong inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import RECORD_DRAWS, compose_config, run_training
from draw_recorder import load_draws
from independent import digits_net_from_checkpoint, digits_train_images
from sample_importance.dataset.pruning import lowest_scoring
from sample_importance.errors import UserError


def test_lowest_scoring_prunes_exactly_the_lowest_fraction_ties_by_index():
    scores = torch.tensor([0.5, 0.1, 0.9, 0.1, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4])
    kept, pruned = lowest_scoring(scores, 0.3)
    assert pruned.tolist() == [1, 3, 6] and kept.tolist() == [0, 2, 4, 5, 7, 8, 9]
    kept, pruned = lowest_scoring(torch.zeros(4), 0.5)
    assert pruned.tolist() == [0, 1]


def test_el2n_scores_then_pruning_trains_on_the_highest_scores(tmp_path):
    from sample_importance.el2n import el2n

    scores_dir = tmp_path / "el2n"
    scores_dir.mkdir()
    cfg = compose_config(
        [
            "dataset=digits",
            "trainer.enable_progress_bar=false",
            "trainer.accelerator=cpu",
            "el2n.models=2",
            "el2n.epochs=1",
            "++trainer.limit_train_batches=3",
        ],
        scores_dir,
        "el2n",
    )
    path = el2n(cfg)
    record = torch.load(path, weights_only=True)
    images, labels = digits_train_images()
    expected = torch.zeros(len(labels), dtype=torch.float64)
    for model in range(2):  # independent: || softmax - onehot ||_2 of each model's final weights, averaged
        net = digits_net_from_checkpoint(scores_dir / f"model{model}" / "checkpoints" / "last.ckpt")
        with torch.no_grad():
            probabilities = torch.softmax(net(images), 1).double()
        expected += (probabilities - torch.nn.functional.one_hot(labels, 10).double()).norm(dim=1) / 2
    np.testing.assert_allclose(record["score"].numpy(), expected.numpy(), rtol=1e-4)
    assert record["extra_iterations"] == 3 and record["extra_iterations_all_models"] == 6
    assert np.array_equal(np.load(scores_dir / "el2n_scores.npy"), record["score"].numpy())

    run = tmp_path / "pruned"
    summary = run_training(
        ["sampler=uniform", f"dataset.prune_scores_file={path}", "schedule.max_epochs=1", RECORD_DRAWS], run
    )
    n = len(labels)
    order = torch.sort(record["score"], stable=True).indices
    expected_kept = order[round(0.3 * n) :].sort().values
    pruned = torch.load(run / "pruned_samples.pt", weights_only=True)
    assert torch.equal(pruned["kept_from_full"], expected_kept)
    assert record["score"][pruned["pruned"]].max() <= record["score"][expected_kept].min()
    assert summary["num_train"] == n - round(0.3 * n)
    drawn = load_draws(run)[0]
    assert len(drawn.unique()) == len(drawn)  # SGD-Scan: without replacement
    assert drawn.max() < summary["num_train"]
    assert summary["extra_iterations"] == 3 and summary["pruning"]["num_pruned"] == round(0.3 * n)
    with pytest.raises(UserError, match="prunes other samples than the checkpoint"):
        run_training(
            [
                "sampler=uniform",
                f"dataset.prune_scores_file={path}",
                "dataset.prune_fraction=0.2",
                "schedule.max_epochs=2",
                f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                "resume_allow_changes=true",
            ],
            tmp_path / "resumed",
        )


def test_pruning_keeps_the_highest_scores_on_a_sample_table_dataset(tmp_path):
    from hydra.utils import instantiate

    multiaug = ["dataset=digits", "+dataset/multiaug=cifar"]
    datamodule = instantiate(compose_config(multiaug, tmp_path / "probe").dataset)
    datamodule.setup("fit")
    scores = torch.rand(datamodule.num_train, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    np.save(tmp_path / "scores.npy", scores.numpy())
    summary = run_training(
        [
            *multiaug,
            "sampler=uniform",
            f"dataset.prune_scores_file={tmp_path / 'scores.npy'}",
            "dataset.prune_scores_order=index",
            "dataset.prune_fraction=0.5",
            "schedule.max_epochs=1",
            "++trainer.limit_train_batches=2",
        ],
        tmp_path / "run",
    )
    kept = torch.load(tmp_path / "run" / "pruned_samples.pt", weights_only=True)["kept_from_full"]
    assert summary["num_train"] == len(kept) == datamodule.num_train - round(0.5 * datamodule.num_train)
    assert torch.equal(kept, scores.argsort()[round(0.5 * datamodule.num_train) :].sort().values)


def test_pruning_rejects_a_scores_file_of_the_wrong_length(tmp_path):
    np.save(tmp_path / "scores.npy", np.arange(5.0))
    with pytest.raises(UserError) as error:
        run_training(
            [
                "sampler=uniform",
                f"dataset.prune_scores_file={tmp_path / 'scores.npy'}",
                "schedule.max_epochs=1",
            ],
            tmp_path / "run",
        )
    assert "has 5 values, the training set has" in str(error.value) and "\n" not in str(error.value)
