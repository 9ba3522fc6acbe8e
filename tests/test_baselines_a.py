"""Baselines and ablations (part A): each checked on its defining behaviour, on the bundled digits.

uniform with replacement, focal loss, EL2N scoring and pruning, SGD-SCI, the unbiased variant,
the importance metrics, weights from files, random weights, burn_in_epochs=auto.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import RECORD_DRAWS, compose_config, run_training
from draw_recorder import load_draws
from independent import digits_p_true_from_checkpoint
from pytorch_lightning.callbacks import Callback
from scipy.stats import chisquare, spearmanr

from sample_importance.dataset.digits import DigitsSource
from sample_importance.errors import UserError
from sample_importance.loss.focal import FocalLoss
from sample_importance.model.lenet import LeNet
from sample_importance.sampler.auto_burn_in import AutoBurnIn
from sample_importance.sampler.class_importance import class_level_weights
from sample_importance.sampler.index_sampler import IndexSampler
from sample_importance.sampler.pruning import lowest_scoring
from sample_importance.sampler.scores import per_sample_grad_norms

FEW_BATCHES = "++trainer.limit_train_batches=5"


def tensorboard_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tbparse import SummaryReader

    frame = SummaryReader(str(run_dir / "tensorboard")).scalars
    return {tag: list(zip(group.step.tolist(), group.value.tolist())) for tag, group in frame.groupby("tag")}


def digits_net_from_checkpoint(path) -> LeNet:
    net = LeNet(in_channels=1, num_classes=10, image_size=8)
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    return net.eval()


def digits_train_images() -> tuple[torch.Tensor, torch.Tensor]:
    splits = DigitsSource().load()
    mean, std = torch.tensor(splits.mean).view(1, -1, 1, 1), torch.tensor(splits.std).view(1, -1, 1, 1)
    return (splits.train_images.float() / 255 - mean) / std, splits.train_labels


def sampler_weights_in(checkpoint_path) -> torch.Tensor:
    return torch.load(checkpoint_path, map_location="cpu", weights_only=False)["ImageDataModule"]["sampler"]["weights"]


# -- focal loss (Eq. 5) ----------------------------------------------------------------------
def test_focal_loss_matches_a_hand_computation():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0], [9.0, -9.0, 0.0]])
    targets = np.array([0, 2, 0, 0])
    alpha = np.array([0.25, 1.0, 2.0])
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = probabilities[np.arange(4), targets]
    for gamma in (0.0, 0.5, 2.0):
        expected = -alpha[targets] * (1 - p) ** gamma * np.log(p)
        got = FocalLoss(gamma=gamma, alpha=alpha.tolist())(torch.tensor(logits), torch.tensor(targets))
        np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-5)
    plain = FocalLoss(gamma=0.0)(torch.tensor(logits), torch.tensor(targets))
    cross_entropy = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets), reduction="none")
    np.testing.assert_allclose(plain.double().numpy(), cross_entropy.numpy(), rtol=1e-6)


def test_focal_loss_gradient_is_finite_for_a_learned_sample_and_alpha_length_is_checked():
    logits = torch.tensor([[60.0, 0.0, 0.0]], requires_grad=True)  # p_true = 1 in float32
    for gamma in (0.5, 2.0):
        FocalLoss(gamma=gamma)(logits, torch.tensor([0])).sum().backward()
        assert torch.isfinite(logits.grad).all()
    with pytest.raises(UserError, match="loss.alpha has 2 entries"):
        FocalLoss(alpha=[1.0, 2.0])(torch.zeros(1, 3), torch.tensor([0]))
    with pytest.raises(UserError, match="loss.alpha"):
        FocalLoss(alpha=[1.0, -1.0])


# -- uniform with replacement ----------------------------------------------------------------
def test_uniform_replacement_draws_with_replacement_from_epoch_zero(tmp_path):
    summary = run_training(["sampler=uniform_replacement", "loss=focal", "schedule.max_epochs=1", RECORD_DRAWS],
                           tmp_path / "run")
    drawn = load_draws(tmp_path / "run")[0]
    n = summary["num_train"]
    sampler = IndexSampler(n, seed=summary["seed"])
    sampler.set_weights(torch.ones(n, dtype=torch.float64))
    assert torch.equal(drawn, sampler.global_sequence(0)[: len(drawn)])  # the weighted draw, all weights 1
    assert len(drawn.unique()) < len(drawn)  # repeats within the first epoch
    assert summary["loss"] == "focal"
    scalars = tensorboard_scalars(tmp_path / "run")
    assert scalars["sampling/effective_sample_fraction"][0][1] == pytest.approx(1.0)


# -- importance metrics (App. E.2) -------------------------------------------------------------
class TinyBatchNormNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                        torch.nn.ReLU(inplace=True), torch.nn.Flatten(), torch.nn.Linear(4 * 64, 10))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("make_net", [lambda: LeNet(1, 10, 8), TinyBatchNormNet])
def test_grad_norm_equals_one_backward_per_sample(make_net):
    torch.manual_seed(0)
    net = make_net()
    net.train()
    images, labels = digits_train_images()
    net(images[:64])  # move batch-norm running statistics away from their initial values
    net.eval()
    images, labels = images[:20], labels[:20]
    loss = FocalLoss(gamma=0.0)
    expected = []
    for i in range(len(images)):
        net.zero_grad()
        loss(net(images[i : i + 1]), labels[i : i + 1]).sum().backward()
        expected.append(math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in net.parameters())))
    got = per_sample_grad_norms(net, loss, images, labels, chunk_size=7)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4)


def test_scores_loss_el2n_and_random_follow_their_definitions():
    from sample_importance.dataset.datamodule import ImageDataModule
    from sample_importance.loss.cross_entropy import CrossEntropy
    from sample_importance.model.classifier import ImageClassifier
    from sample_importance.sampler.importance import scoring_pass

    torch.manual_seed(0)
    datamodule = ImageDataModule(DigitsSource(), batch_size=32, augment=False)
    datamodule.setup("fit")
    module = ImageClassifier(LeNet(1, 10, 8), CrossEntropy(), None, 10)
    images, labels = digits_train_images()
    with torch.no_grad():
        probabilities = torch.softmax(module.net.eval()(images), 1).double()
    p_true = probabilities[torch.arange(len(labels)), labels]
    onehot = torch.nn.functional.one_hot(labels, 10).double()
    expected = {"p_true": 1 - p_true, "loss": -p_true.log(), "el2n": (probabilities - onehot).norm(dim=1)}
    for score, values in expected.items():
        scored = scoring_pass(module, datamodule, score)
        assert torch.equal(scored.label, labels)
        np.testing.assert_allclose(scored.hardness.numpy(), values.numpy(), rtol=1e-4, atol=1e-6)
    from sample_importance.sampler.ablations import RandomWeights

    def random_scores(seed):
        datamodule.seed = seed
        return RandomWeights().scores(SimpleNamespace(datamodule=datamodule), module)

    first, again = random_scores(3), random_scores(3)
    assert torch.equal(first.hardness, again.hardness) and not torch.equal(first.hardness, random_scores(4).hardness)
    assert 0 <= first.hardness.min() and first.hardness.max() < 1 and torch.isnan(first.p_true).all()


def test_grad_norm_score_sets_the_weights_and_logs_its_cost(tmp_path):
    run = tmp_path / "run"
    summary = run_training(["sampler.score=grad_norm", "sampler.burn_in_epochs=1", "sampler.gamma=1",
                            "schedule.max_epochs=2", FEW_BATCHES], run)
    settings = summary["sampler_settings"]
    assert settings["score"] == "grad_norm" and settings["scoring_time_s"] > 0
    record = torch.load(run / "sample_weights.pt", weights_only=True)
    net = digits_net_from_checkpoint(run / "checkpoints" / "burn_in_end_epoch1.ckpt")
    images, labels = digits_train_images()
    some = torch.arange(0, len(labels), 97)
    expected = []
    for i in some.tolist():  # independent: one backward per sample
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(images[i : i + 1]), labels[i : i + 1]).backward()
        expected.append(math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in net.parameters())))
    np.testing.assert_allclose(record["weight"][some].numpy(), expected, rtol=1e-4)  # gamma = 1: w = ||g||
    scalars = tensorboard_scalars(run)
    assert scalars["importance/scoring_time_s/grad_norm"][0][1] == pytest.approx(settings["scoring_time_s"], rel=1e-5)


# -- weights from files, random weights (App. B, E.3, E.4) ------------------------------------
def test_weights_file_reproduces_the_files_weights_and_averages_several(tmp_path):
    n = len(DigitsSource().load().train_labels)
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(n, generator=generator, dtype=torch.float64)
    first[: n // 2] = 0.0  # half the samples may never be drawn
    second = torch.rand(n, generator=generator, dtype=torch.float64)
    second[: n // 2] = 0.0
    np.save(tmp_path / "first.npy", first.numpy())
    torch.save({"weight": second, "label": DigitsSource().load().train_labels}, tmp_path / "second.pt")
    run = tmp_path / "run"
    run_training([f"sampler.weights_file=[{tmp_path / 'first.npy'},{tmp_path / 'second.pt'}]", "sampler.weights_order=index",
                  "sampler.burn_in_epochs=0", "schedule.max_epochs=1", RECORD_DRAWS], run)
    assert torch.equal(sampler_weights_in(run / "checkpoints" / "last.ckpt"), (first + second) / 2)
    assert (load_draws(run)[0] >= n // 2).all()  # zero-weight samples are never drawn
    single = tmp_path / "single"
    summary = run_training([f"sampler.weights_file={tmp_path / 'first.npy'}", "sampler.weights_order=index",
                            "sampler.burn_in_epochs=1",
                            "schedule.max_epochs=2", FEW_BATCHES], single)
    assert torch.equal(sampler_weights_in(single / "checkpoints" / "last.ckpt"), first)
    assert torch.equal(torch.load(single / "sample_weights.pt", weights_only=True)["weight"], first)
    assert summary["sampler_settings"]["switched_after_epoch"] == 1


def test_a_weights_file_of_the_wrong_length_is_a_one_line_error(tmp_path):
    np.save(tmp_path / "short.npy", np.ones(10))
    with pytest.raises(UserError) as error:
        run_training([f"sampler.weights_file={tmp_path / 'short.npy'}", "sampler.burn_in_epochs=0",
                      "schedule.max_epochs=1"], tmp_path / "run")
    assert "has 10 values, the training set has" in str(error.value) and "\n" not in str(error.value)


def test_random_weights_are_seeded_uniform_draws_to_the_power_gamma(tmp_path):
    from sample_importance.sampler.scores import random_hardness

    run = tmp_path / "run"
    summary = run_training(["sampler=random_weights", "sampler.burn_in_epochs=0", "sampler.gamma=2",
                            "schedule.max_epochs=1", FEW_BATCHES], run)
    weights = sampler_weights_in(run / "checkpoints" / "last.ckpt")
    assert torch.equal(weights, random_hardness(summary["num_train"], summary["seed"]).pow(2))


# -- unbiased variant (App. E.3) ---------------------------------------------------------------
LOSS_RECORDS: list[dict] = []


class LossRecorder(Callback):
    """Test-only: the loss factor and losses of every training batch."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        index = outputs["index"].cpu()
        factor = pl_module.sample_loss_weight(index) if pl_module.sample_loss_weight else torch.ones(len(index))
        LOSS_RECORDS.append({"epoch": trainer.current_epoch, "index": index, "factor": factor.double(),
                             "loss": float(outputs["loss"]), "sample_loss": outputs["sample_loss"].double().cpu()})


def test_unbiased_loss_is_weighted_by_one_over_n_p(tmp_path):
    LOSS_RECORDS.clear()
    run = tmp_path / "run"
    run_training(["sampler=importance_unbiased", "sampler.burn_in_epochs=1", "schedule.max_epochs=2", FEW_BATCHES,
                  "+callbacks.loss_recorder._target_=test_baselines_a.LossRecorder"], run)
    weights = torch.load(run / "sample_weights.pt", weights_only=True)["weight"]
    expected = weights.sum() / (len(weights) * weights)  # 1 / (N P(i))
    burn_in = [r for r in LOSS_RECORDS if r["epoch"] == 0]
    after = [r for r in LOSS_RECORDS if r["epoch"] == 1]
    assert burn_in and after
    assert all(torch.equal(r["factor"], torch.ones(len(r["index"]), dtype=torch.float64)) for r in burn_in)
    for record in after:
        np.testing.assert_allclose(record["factor"].numpy(), expected[record["index"]].numpy(), rtol=1e-6)
        assert record["loss"] == pytest.approx(float((record["sample_loss"] * record["factor"]).mean()), rel=1e-5)


# -- SGD-SCI (Fig. 5) ----------------------------------------------------------------------------
def test_class_importance_draws_classes_by_class_weight_and_samples_uniformly_within():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    weights = torch.cat([torch.full((50,), 0.1), torch.linspace(0.5, 2.0, 30), torch.full((20,), 3.0)]).double()
    per_sample, class_weight = class_level_weights(weights, labels, 3)
    np.testing.assert_allclose(class_weight.numpy(), [5 / (5 + 37.5 + 60), 37.5 / (5 + 37.5 + 60), 60 / (5 + 37.5 + 60)])
    sampler = IndexSampler(len(labels), seed=0)
    sampler.set_weights(per_sample)
    draws = torch.cat([sampler.global_sequence(epoch) for epoch in range(2000)])
    class_counts = torch.bincount(labels[draws], minlength=3)
    assert chisquare(class_counts.numpy(), (class_weight * len(draws)).numpy()).pvalue > 1e-3
    for c in range(3):
        members = torch.bincount(draws, minlength=len(labels))[labels == c]
        assert chisquare(members.numpy()).pvalue > 1e-3  # uniform within the class


def test_class_importance_run_uses_the_methods_class_shares(tmp_path):
    run = tmp_path / "run"
    summary = run_training(["sampler=class_importance", "sampler.burn_in_epochs=1", "schedule.max_epochs=2",
                            FEW_BATCHES], run)
    p_true, labels = digits_p_true_from_checkpoint(run / "checkpoints" / "burn_in_end_epoch1.ckpt")
    method = (1 - p_true).clamp(min=0).pow(0.5)
    shares = torch.zeros(10, dtype=torch.float64).index_add_(0, labels, method)
    shares /= shares.sum()
    np.testing.assert_allclose(summary["sampler_settings"]["class_weights"], shares.numpy(), rtol=1e-4)
    expected = (shares / torch.bincount(labels, minlength=10))[labels]
    np.testing.assert_allclose(sampler_weights_in(run / "checkpoints" / "last.ckpt").numpy(), expected.numpy(), rtol=1e-4)
    assert "sampling/effective_sample_fraction" in tensorboard_scalars(run)


# -- EL2N scoring and pruning (Section 4) ------------------------------------------------------
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
    cfg = compose_config(["dataset=digits", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu",
                          "el2n.models=2", "el2n.epochs=1", "++trainer.limit_train_batches=3"], scores_dir, "el2n")
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
    summary = run_training(["sampler=el2n_pruning", f"sampler.scores_file={path}", "schedule.max_epochs=1",
                            RECORD_DRAWS], run)
    n = len(labels)
    order = torch.sort(record["score"], stable=True).indices
    expected_kept = order[round(0.3 * n):].sort().values
    pruned = torch.load(run / "pruned_samples.pt", weights_only=True)
    assert torch.equal(pruned["kept_from_full"], expected_kept)
    assert record["score"][pruned["pruned"]].max() <= record["score"][expected_kept].min()
    assert summary["num_train"] == n - round(0.3 * n)
    drawn = load_draws(run)[0]
    assert len(drawn.unique()) == len(drawn)  # SGD-Scan: without replacement
    assert drawn.max() < summary["num_train"]
    settings = summary["sampler_settings"]
    assert settings["extra_iterations"] == 3 and settings["num_pruned"] == round(0.3 * n)
    with pytest.raises(UserError, match="prunes other samples than the checkpoint"):
        run_training(["sampler=el2n_pruning", f"sampler.scores_file={path}", "sampler.prune_fraction=0.2",
                      "schedule.max_epochs=2", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                      "resume_allow_changes=true"], tmp_path / "resumed")


def test_pruning_keeps_the_highest_scores_on_a_sample_table_dataset(tmp_path):
    from hydra.utils import instantiate

    datamodule = instantiate(compose_config(["dataset=digits_multiaug"], tmp_path / "probe").dataset)
    datamodule.setup("fit")
    scores = torch.rand(datamodule.num_train, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    np.save(tmp_path / "scores.npy", scores.numpy())
    summary = run_training(["dataset=digits_multiaug", "sampler=el2n_pruning", f"sampler.scores_file={tmp_path / 'scores.npy'}",
                            "sampler.scores_order=index",
                            "sampler.prune_fraction=0.5", "schedule.max_epochs=1", "++trainer.limit_train_batches=2"],
                           tmp_path / "run")
    kept = torch.load(tmp_path / "run" / "pruned_samples.pt", weights_only=True)["kept_from_full"]
    assert summary["num_train"] == len(kept) == datamodule.num_train - round(0.5 * datamodule.num_train)
    assert torch.equal(kept, scores.argsort()[round(0.5 * datamodule.num_train):].sort().values)


def test_pruning_rejects_a_scores_file_of_the_wrong_length(tmp_path):
    np.save(tmp_path / "scores.npy", np.arange(5.0))
    with pytest.raises(UserError) as error:
        run_training(["sampler=el2n_pruning", f"sampler.scores_file={tmp_path / 'scores.npy'}",
                      "schedule.max_epochs=1"], tmp_path / "run")
    assert "has 5 values, the training set has" in str(error.value) and "\n" not in str(error.value)


# -- burn_in_epochs=auto -------------------------------------------------------------------------
def test_auto_burn_in_picks_the_first_epoch_whose_correlation_passes():
    base = torch.arange(100, dtype=torch.float64)
    noise = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    epochs = [noise, base + 200 * noise, base + 60 * noise, base + 10 * noise, base + 9 * noise, base]
    auto = AutoBurnIn(threshold=0.9, max_epochs=10)
    chosen = None
    for epoch, weights in enumerate(epochs):
        auto.observe(epoch, weights)
        if chosen is None and auto.should_switch(epoch):
            chosen = epoch
    rhos = {e: r for e, r in auto.history}
    first_passing = min(e for e, r in rhos.items() if r >= 0.9)
    assert chosen == first_passing and all(rhos[e] < 0.9 for e in range(1, first_passing))
    assert rhos[1] == pytest.approx(spearmanr(epochs[0], epochs[1]).statistic)
    capped = AutoBurnIn(threshold=0.999, max_epochs=2)
    capped.observe(0, epochs[0])
    capped.observe(1, epochs[1])
    assert not capped.should_switch(1)
    capped.observe(2, epochs[2])
    assert capped.should_switch(2)  # the maximum E, whatever the correlation
    restored = AutoBurnIn(0.999, 2)
    restored.load_state_dict(capped.state_dict())
    assert restored.history == capped.history and torch.equal(restored.previous, capped.previous)
    constant = AutoBurnIn(threshold=0.9, max_epochs=10)  # gamma = 0: the weights never change
    constant.observe(0, torch.ones(5, dtype=torch.float64))
    constant.observe(1, torch.ones(5, dtype=torch.float64))
    assert constant.history == [(1, 1.0)] and constant.should_switch(1)


def test_auto_burn_in_run_scores_every_epoch_and_records_e(tmp_path):
    run = tmp_path / "run"
    summary = run_training(["sampler.burn_in_epochs=auto", "sampler.auto_spearman_threshold=1.0",
                            "schedule.max_epochs=3", FEW_BATCHES, "callbacks.model_checkpoint.save_top_k=-1"], run)
    settings = summary["sampler_settings"]
    assert settings["burn_in_epochs_chosen"] == settings["switched_after_epoch"] == 2  # capped at max_epochs - 1
    assert [e for e, _ in settings["auto_spearman_history"]] == [1, 2]
    weights = [(1 - digits_p_true_from_checkpoint(run / "checkpoints" / f"epoch{e:03d}.ckpt")[0]).pow(0.5) for e in (0, 1)]
    assert settings["auto_spearman_history"][1][1] == pytest.approx(spearmanr(weights[0], weights[1]).statistic, abs=1e-6)
    np.testing.assert_allclose(torch.load(run / "sample_weights.pt", weights_only=True)["weight"].numpy(),
                               weights[1].numpy(), rtol=1e-4, atol=1e-7)
    scalars = tensorboard_scalars(run)
    assert len(scalars["importance/auto_burn_in_spearman"]) == 2
    assert scalars["importance/burn_in_epochs_chosen"][0][1] == 2


def test_auto_burn_in_resumes_its_history_instead_of_starting_over(tmp_path):
    first = tmp_path / "first"
    overrides = ["sampler.burn_in_epochs=auto", "sampler.auto_spearman_threshold=1.0", "schedule.max_epochs=3",
                 FEW_BATCHES]
    run_training(overrides + ["callbacks.model_checkpoint.save_top_k=-1"], first)
    state = torch.load(first / "checkpoints" / "epoch000.ckpt", weights_only=False)["callbacks"]["ImportanceSampling"]
    assert state["switched_after_epoch"] is None and [e for e, _ in state["auto"]["history"]] == [1]
    resumed = run_training(overrides + [f"ckpt_path={first / 'checkpoints' / 'epoch000.ckpt'}"], tmp_path / "resumed")
    settings = resumed["sampler_settings"]
    assert [e for e, _ in settings["auto_spearman_history"]] == [1, 2] and settings["switched_after_epoch"] == 2
    assert settings["auto_spearman_history"][0] == pytest.approx(state["auto"]["history"][0])


def test_config_checks_accept_auto_and_reject_unknown_scores(tmp_path):
    from sample_importance.config_checks import validate
    from sample_importance.errors import ConfigError
    from sample_importance.train import sampler_callback

    cfg = compose_config(["sampler.burn_in_epochs=auto"], tmp_path)
    validate(cfg)
    sampler_callback(cfg)
    with pytest.raises(ConfigError, match="sampler.score must be one of"):
        sampler_callback(compose_config(["sampler.score=entropy"], tmp_path))
    with pytest.raises(ConfigError, match="sampler.scores_file is required"):
        validate(compose_config(["sampler=el2n_pruning"], tmp_path))
    with pytest.raises(UserError, match="no such file"):
        sampler_callback(compose_config(["sampler.weights_file=/nonexistent.pt"], tmp_path))
