"""Every model config builds for the dataset's channels and size, and trains a step on CPU."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from sample_importance.cli import CONFIG_DIR
from sample_importance.model.lenet import LeNet
from sample_importance.model.pyramidnet import PyramidNet

MODEL_CONFIGS = sorted(Path(CONFIG_DIR, "model").glob("*.yaml"))


pytestmark = pytest.mark.usefixtures("one_thread")


def build(config: Path, in_channels: int, image_size: int, num_classes: int):
    return instantiate(
        OmegaConf.load(config), in_channels=in_channels, num_classes=num_classes, image_size=image_size
    )


def test_every_paper_model_has_a_config():
    names = {path.stem for path in MODEL_CONFIGS}
    assert {
        "lenet",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet50_imagenet",
        "googlenet",
        "pyramidnet110",
        "pyramidnet164",
        "pyramidnet20",
    } <= names


@pytest.mark.parametrize("config", MODEL_CONFIGS, ids=lambda path: path.stem)
@pytest.mark.parametrize("in_channels,image_size", [(1, 8), (3, 13)])
def test_forward_backward_on_tiny_inputs(config, in_channels, image_size):
    torch.manual_seed(0)
    net = build(config, in_channels, image_size, num_classes=7)
    net.train()
    images = torch.randn(2, in_channels, image_size, image_size)
    logits = net(images)
    assert logits.shape == (2, 7)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 6])).backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    net.eval()
    with torch.no_grad():
        assert net(images[:1]).shape == (1, 7)


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_pyramidnet_sizes_match_the_published_ones():
    # Han et al. (2017), the authors' table: PyramidNet-110 alpha=48 has 1.7M parameters and a
    # 64-dimensional output feature; PyramidNet-164 alpha=270 (bottleneck) 27.0M and 1144.
    # An independent implementation (osmr/imgclsmob) counts 1,772,706 and 27,216,021 on CIFAR-10.
    small = PyramidNet(3, 10, 32, depth=110, alpha=48)
    assert small.feature_dim == 64
    assert count(small) == 1_772_706
    large = PyramidNet(3, 10, 32, depth=164, alpha=270, bottleneck=True)
    assert large.feature_dim == 1144
    assert count(large) == 27_216_021


def test_pyramidnet_rejects_a_depth_that_does_not_fit_its_units():
    with pytest.raises(ValueError, match="9n\\+2"):
        PyramidNet(3, 10, 32, depth=112, bottleneck=True)


def test_small_image_stems_keep_the_resolution():
    resnet = build(Path(CONFIG_DIR, "model", "resnet50.yaml"), 3, 32, 10)
    assert resnet.conv1.kernel_size == (3, 3) and resnet.conv1.stride == (1, 1)
    assert isinstance(resnet.maxpool, torch.nn.Identity)
    imagenet = build(Path(CONFIG_DIR, "model", "resnet50_imagenet.yaml"), 3, 224, 1000)
    assert imagenet.conv1.kernel_size == (7, 7) and imagenet.conv1.stride == (2, 2)
    assert count(imagenet) == 25_557_032  # torchvision's ResNet-50
    google = build(Path(CONFIG_DIR, "model", "googlenet.yaml"), 3, 32, 10)
    assert google.conv1.conv.kernel_size == (3, 3) and isinstance(google.maxpool1, torch.nn.Identity)
    assert google.aux1 is None and google.aux2 is None


@pytest.mark.parametrize("config", ["lenet", "resnet18"])
def test_channels_last_scoring_copy_gives_the_same_probabilities_and_leaves_the_model_alone(config):
    from torch.utils.data import DataLoader, TensorDataset

    from sample_importance.loss.cross_entropy import CrossEntropy
    from sample_importance.model.classifier import ImageClassifier
    from sample_importance.sampler.method import scoring_pass

    torch.manual_seed(0)
    net = build(Path(CONFIG_DIR, "model", f"{config}.yaml"), 3, 16, 10)
    images, labels = torch.randn(40, 3, 16, 16), torch.randint(0, 10, (40,))
    loader = DataLoader(TensorDataset(images, labels, torch.arange(40)), batch_size=16)
    data = SimpleNamespace(scoring_dataloader=lambda: loader, num_train=40)
    fast = ImageClassifier(net, CrossEntropy(), None, 10, score_channels_last=True)
    scores = scoring_pass(fast, data)
    label, p_fast = scores.label, scores.p_true.float()
    p_plain = scoring_pass(
        ImageClassifier(net, CrossEntropy(), None, 10, score_channels_last=False), data
    ).p_true.float()
    assert torch.equal(label, labels)
    torch.testing.assert_close(p_fast, p_plain, atol=1e-5, rtol=0)
    net.eval()
    with torch.no_grad():
        expected = torch.softmax(net(images), 1)[torch.arange(40), labels]
    torch.testing.assert_close(p_plain, expected)
    assert all(p.is_contiguous() for p in net.parameters())  # the trained network kept its layout
    assert fast.training  # and its mode
    copy = fast.scoring_network()  # the pass above really ran on a channels-last copy
    assert copy is not net and all(
        p.is_contiguous(memory_format=torch.channels_last) for p in copy.parameters() if p.ndim == 4
    )


def test_lenet_pooling_before_relu_is_the_conv_relu_pool_network():
    """LeNet pools before its ReLUs (faster); outputs and gradients must be those of conv-ReLU-pool."""
    torch.manual_seed(0)
    net = LeNet(in_channels=1, num_classes=10, image_size=28)
    conv1, _, _, conv2, _, _ = net.features
    reference = copy.deepcopy(net)
    reference.features = nn.Sequential(
        copy.deepcopy(conv1), nn.ReLU(), nn.MaxPool2d(2), copy.deepcopy(conv2), nn.ReLU(), nn.MaxPool2d(2)
    )
    images, labels = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for model in (net, reference):
        nn.functional.cross_entropy(model(images), labels).backward()
    assert torch.equal(net(images), reference(images))
    for (name, p), (_, q) in zip(net.named_parameters(), reference.named_parameters()):
        assert torch.equal(p.grad, q.grad), name
