"""Display names in the paper's notation, made from a group's settings (its composed config).

Every figure, table and headline of the report names groups and comparison sets through this
module: ``SGD-Scan``, ``focal loss (γ=2)``, ``ours (E=5, γ=0.5)``, ``SGD-SPV``;
``Fashion-MNIST, 2 of 10 classes x5, LeNet``. A setting a name does not cover is left to the
caller, which appends the config keys that still tell two groups apart.
"""

from __future__ import annotations

GAMMA = "γ"

# Hydra's sampler choice -> (name, the sampler settings shown in brackets, as (key, symbol)).
METHOD_SETTINGS = (("burn_in_epochs", "E"), ("gamma", GAMMA))
SAMPLERS = {
    "uniform": ("SGD-Scan", ()),
    "uniform_replacement": ("SGD with replacement", ()),
    "importance": ("ours", METHOD_SETTINGS),
    "importance_unbiased": ("ours, unbiased", METHOD_SETTINGS),
    "importance_online": ("ours, online", METHOD_SETTINGS),
    "random_weights": ("random weights", METHOD_SETTINGS),
    "class_importance": ("SGD-SCI", METHOD_SETTINGS),
    "el2n_pruning": ("EL2N", (("prune_fraction", "pruned"),)),
    "spv": ("SGD-SPV", (("burn_in_epochs", "E"), ("epsilon", "ε"))),
    "prioritized_proportional": ("SGD-Prop", (("alpha", "α"),)),
    "prioritized_rank": ("SGD-Rank", (("alpha", "α"),)),
    "infobatch": ("InfoBatch", (("prune_fraction", "r"),)),
}
# Sampler settings that change the method when they leave their default: (key, default, text).
VARIANTS = (
    ("score", "p_true", "score {}"),
    ("score_source", "eval_pass", "p from the training steps"),
    ("unbiased", False, "unbiased"),
    ("weights_file", None, "weights from file"),
    ("weight_floor", 0.0, "floor {}"),
)
LOSSES = {"cross_entropy": "", "focal": "focal loss"}
# A swept setting as the paper writes it (sensitivity tables and axes).
SETTING_SYMBOLS = {"sampler.burn_in_epochs": "E", "sampler.gamma": GAMMA, "loss.gamma": f"focal {GAMMA}"}


def setting_name(key: str) -> str:
    """``sampler.gamma`` -> ``γ``; a key without a symbol keeps its last part."""
    return SETTING_SYMBOLS.get(key, key.split(".")[-1])


DATASETS = {
    "digits": ("digits (8x8)", 10),
    "digits_imagefolder": ("digits (8x8)", 10),
    "fashion_mnist": ("Fashion-MNIST", 10),
    "cifar10": ("CIFAR-10", 10),
    "cifar100": ("CIFAR-100", 100),
    "imagenet": ("ImageNet-1K", 1000),
}
# Data sets without some classes (dataset.exclude_classes) that have a name of their own; any
# other is "<name> without <classes>".
SUBSETS = {
    ("cifar10", ("dog",)): "CIFAR-9",
    ("fashion_mnist", ("Shirt",)): "Fashion-MNIST, 9 classes",
    ("digits", ("8",)): "digits without 8",
}
MODELS = {
    "lenet": "LeNet",
    "resnet18": "ResNet18",
    "resnet34": "ResNet34",
    "resnet50": "ResNet50",
    "resnet50_imagenet": "ResNet50",
    "resnet101": "ResNet101",
    "googlenet": "GoogLeNet",
    "pyramidnet20": "PyramidNet20",
    "pyramidnet110": "PyramidNet110",
    "pyramidnet164": "PyramidNet164",
}


def number(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(number(v) for v in value) + "]"
    return str(value)


def percent(value) -> str:
    return (
        f"{100 * value:g}%"
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else number(value)
    )


def prunes(settings: dict) -> bool:
    """Whether the run trained on data pruned by a scores file (``dataset.prune_scores_file``)."""
    return bool(settings.get("dataset.prune_scores_file"))


def method_name(settings: dict) -> str | None:
    """``ours (E=5, γ=0.5)`` from the sampler and loss settings.

    None for a sampler this module does not know."""
    if settings.get("sampler") == "uniform" and prunes(settings):
        # EL2N: SGD-Scan on pruned data (runs before pruning became a dataset option: sampler=el2n_pruning)
        settings = {
            **settings,
            "sampler": "el2n_pruning",
            "sampler.prune_fraction": settings.get("dataset.prune_fraction"),
        }
    sampler = settings.get("sampler")
    if sampler not in SAMPLERS:
        return None
    name, shown = SAMPLERS[sampler]
    loss = settings.get("loss")
    loss_name = LOSSES.get(str(loss), str(loss)) if loss is not None else ""
    if sampler == "uniform" and loss_name:  # focal loss is a method of its own on SGD-Scan
        name, shown, loss_name = loss_name, (), ""
        if "loss.gamma" in settings:
            shown = (("gamma", GAMMA),)
            settings = {**settings, "sampler.gamma": settings["loss.gamma"]}
    parts = []
    for key, symbol in shown:
        value = settings.get(f"sampler.{key}")
        if value is None and key == "prune_fraction" and sampler == "el2n_pruning":
            continue  # null: the dataset's default
        if value is not None:
            parts.append(f"{symbol}={percent(value) if key == 'prune_fraction' else number(value)}")
    for key, default, text in VARIANTS:
        value = settings.get(f"sampler.{key}")
        if value is not None and value != default and (key != "weight_floor" or value):
            parts.append(text.format(number(value)))
    if loss_name:
        parts.append(
            loss_name + (f" {GAMMA}={number(settings['loss.gamma'])}" if "loss.gamma" in settings else "")
        )
    return f"{name} ({', '.join(parts)})" if parts else name


def dataset_name(settings: dict) -> str | None:
    """``Fashion-MNIST, 2 of 10 classes x5`` from the dataset choice, its classes and imbalance settings."""
    choice = str(settings.get("dataset", ""))
    base = next((key for key in sorted(DATASETS, key=len, reverse=True) if choice.startswith(key)), None)
    if base is None:
        return None
    name, classes = DATASETS[base]
    excluded = settings.get("dataset.exclude_classes")
    if excluded:
        excluded = (
            tuple(str(c) for c in excluded) if isinstance(excluded, (list, tuple)) else (str(excluded),)
        )
        name = SUBSETS.get((base, excluded)) or f"{name} without {', '.join(excluded)}"
        classes -= len(set(excluded))
    fraction = settings.get("dataset.imbalance.class_fraction")
    replication = settings.get("dataset.imbalance.replication")
    if isinstance(fraction, (int, float)) and replication:
        name += f", {round(fraction * classes)} of {classes} classes x{replication}"
    policies = settings.get("dataset.augmentation_policies")
    if policies:
        name += f", {len(policies)} augmentations"
    per_class = settings.get("dataset.train_samples_per_class")
    if per_class:
        name += f", {per_class} per class"
    return name


def set_title(settings: dict) -> str | None:
    """``Fashion-MNIST, 2 of 10 classes x5, LeNet``; None when the dataset or model is unknown here."""
    dataset = dataset_name(settings)
    model = MODELS.get(str(settings.get("model")))
    if dataset is None or model is None:
        return None
    return f"{dataset}, {model}"


LATEX_CHARACTERS = {
    GAMMA: r"$\gamma$",
    "ε": r"$\epsilon$",
    "α": r"$\alpha$",
    "±": r"$\pm$",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "—": "---",
    **{ch: "\\" + ch for ch in "&%$#_{}"},
}


def latex(text: str) -> str:
    """A display name as LaTeX text (Greek letters in math mode, special characters escaped)."""
    return "".join(LATEX_CHARACTERS.get(ch, ch) for ch in str(text))
