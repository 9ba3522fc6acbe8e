"""Recompute p_true and weights from a checkpoint without the framework's scoring code."""

from __future__ import annotations

import torch

from sample_importance.dataset.digits import DigitsSource
from sample_importance.model.lenet import LeNet


def digits_net_from_checkpoint(path) -> LeNet:
    """The LeNet a digits run saved, in eval mode."""
    net = LeNet(in_channels=1, num_classes=10, image_size=8)
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    return net.eval()


def digits_train_images() -> tuple[torch.Tensor, torch.Tensor]:
    """(normalized images, labels) of every digits training sample, in index order."""
    splits = DigitsSource().load()
    mean, std = torch.tensor(splits.mean).view(1, -1, 1, 1), torch.tensor(splits.std).view(1, -1, 1, 1)
    return (splits.train_images.float() / 255 - mean) / std, splits.train_labels


def digits_p_true_from_checkpoint(checkpoint_path) -> tuple[torch.Tensor, torch.Tensor]:
    """(p_true float64, labels) of every digits training sample, in index order."""
    net = digits_net_from_checkpoint(checkpoint_path)
    images, labels = digits_train_images()
    with torch.no_grad():
        probabilities = torch.softmax(net(images), dim=1)
    p_true = probabilities[torch.arange(len(images)), labels]
    return p_true.double(), labels
