"""The importance scores (App. E.2): p_true, loss, EL2N, random and per-sample gradient norms, each
against its definition; random weights; the sampler settings the config checks accept and reject.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import FEW_BATCHES, compose_config, run_training
from independent import digits_net_from_checkpoint, digits_train_images
from run_outputs import sampler_weights_in, tensorboard_scalars
from sample_importance.dataset.digits import DigitsSource
from sample_importance.errors import UserError
from sample_importance.loss.focal import FocalLoss
from sample_importance.model.lenet import LeNet
from sample_importance.sampler.scores import per_sample_grad_norms


# -- importance metrics (App. E.2) -------------------------------------------------------------
class TinyBatchNormNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1),
            torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(inplace=True),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 64, 10),
        )

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
    from sample_importance.sampler.method import scoring_pass

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
    assert torch.equal(first.hardness, again.hardness) and not torch.equal(
        first.hardness, random_scores(4).hardness
    )
    assert 0 <= first.hardness.min() and first.hardness.max() < 1 and torch.isnan(first.p_true).all()


def test_grad_norm_score_sets_the_weights_and_logs_its_cost(tmp_path):
    run = tmp_path / "run"
    summary = run_training(
        [
            "sampler.score=grad_norm",
            "sampler.burn_in_epochs=1",
            "sampler.gamma=1",
            "schedule.max_epochs=2",
            FEW_BATCHES,
        ],
        run,
    )
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
    assert scalars["importance/scoring_time_s/grad_norm"][0][1] == pytest.approx(
        settings["scoring_time_s"], rel=1e-5
    )


def test_random_weights_are_seeded_uniform_draws_to_the_power_gamma(tmp_path):
    from sample_importance.sampler.scores import random_hardness

    run = tmp_path / "run"
    summary = run_training(
        [
            "sampler=random_weights",
            "sampler.burn_in_epochs=0",
            "sampler.gamma=2",
            "schedule.max_epochs=1",
            FEW_BATCHES,
        ],
        run,
    )
    weights = sampler_weights_in(run / "checkpoints" / "last.ckpt")
    assert torch.equal(weights, random_hardness(summary["num_train"], summary["seed"]).pow(2))


def test_config_checks_accept_auto_and_reject_unknown_scores(tmp_path):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from sample_importance.config_checks import validate
    from sample_importance.errors import ConfigError
    from sample_importance.train import sampler_callback

    cfg = compose_config(["sampler.burn_in_epochs=auto"], tmp_path)
    validate(cfg)
    sampler_callback(cfg)
    with pytest.raises(ConfigError, match="sampler.score must be one of"):
        sampler_callback(compose_config(["sampler.score=entropy"], tmp_path))
    # method=el2n without scores: the datamodule refuses (the command line prints the ConfigError's line)
    with pytest.raises(InstantiationException, match="dataset.prune_scores_file is required"):
        instantiate(compose_config(["method=el2n"], tmp_path).dataset)
    with pytest.raises(UserError, match="no such file"):
        sampler_callback(compose_config(["sampler.weights_file=/nonexistent.pt"], tmp_path))
