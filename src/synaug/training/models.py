"""Models by name. Every model is a `Classifier`: a feature extractor and one last linear layer,
so stage 2 can freeze the features and fine-tune (or re-train) only the classifier.

ResNet-18/50 and every other torchvision classifier are torchvision's own code (so users' ImageNet
checkpoints load as they are, see `synaug.training.pretrained`); the CIFAR ResNet-32 (torchvision has
none) and the small CNN are ours; `timm:<name>` takes a timm model when timm is installed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synaug.errors import ConfigError, require
from synaug.registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def build_model(name: str, *, in_channels: int, num_classes: int, image_size: int = 32,
                head: str = "linear") -> Classifier:
    """A registered model, `timm:<name>`, or any torchvision classifier by its torchvision name,
    with a `head` of HEADS as its last layer (the linear one unless a method declares another)."""
    if name.startswith("timm:") and name not in MODELS:
        model = timm_classifier(name[5:], in_channels, num_classes, image_size)
    elif name not in MODELS and name in _torchvision_names():
        model = torchvision_classifier(name, in_channels, num_classes, image_size)
    else:
        model = MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    if head != "linear":  # built after the linear one, so linear models initialise as they always did
        model.classifier = HEADS[head](model.feature_dim, num_classes)
    return model


def is_model_name(name: str) -> bool:
    """Whether `build_model` knows `name` (timm names are checked when the model is built)."""
    return name in MODELS or name.startswith("timm:") or name in _torchvision_names()


def _torchvision_names() -> set[str]:
    import torchvision

    return set(torchvision.models.list_models(module=torchvision.models))


class NormedLinear(nn.Module):
    """Cosine classifier of LDAM-DRW's CIFAR ResNet (kaidic/LDAM-DRW, models/resnet_cifar.py):
    normalised features times normalised class weights; the weight is stored (in, out) and
    initialised as the reference does. Its scores are cosines in [-1, 1]: a loss trains them at
    `logit_scale` (LDAM's s), which last-layer fine-tuning uses too."""

    logit_scale = 30.0

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


HEADS = Registry("classifier head")
HEADS.add("linear", nn.Linear)
HEADS.add("cosine", NormedLinear)  # LDAM-DRW


class Classifier(nn.Module):
    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim
        self.head_keys: tuple[str, ...] = ()  # the original head's keys in a backbone checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@register_model("small-cnn")
def small_cnn(in_channels: int, num_classes: int, image_size: int = 28, widths=(32, 64, 128)) -> Classifier:
    """Three conv-BN-ReLU blocks with 2x2 pooling between them, global average pooling.
    Sized for 28x28 inputs on CPU: ~7.5 M multiply-adds per image, ~0.1 M parameters."""
    a, b, c = widths
    features = nn.Sequential(
        *conv_bn(in_channels, a), nn.MaxPool2d(2),
        *conv_bn(a, b), nn.MaxPool2d(2),
        *conv_bn(b, c), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(features, c, num_classes)


@register_model("audit-cnn")
def audit_cnn(in_channels: int, num_classes: int, image_size: int = 28) -> Classifier:
    """small-cnn at half width (16/32/64): the feature network `synaug audit` trains when no
    pretrained backbone is given; ~4x fewer multiply-adds, trained in seconds on a CPU."""
    return small_cnn(in_channels, num_classes, image_size, widths=(16, 32, 64))


# ----------------------------------------------------------------------------- CIFAR ResNet-32
class _PadShortcut(nn.Module):
    """Option A shortcut of He et al. / LDAM-DRW: subsample and zero-pad channels (no parameters)."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, option: str = "B"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != planes:
            self.shortcut = _PadShortcut(planes) if option == "A" else nn.Sequential(
                nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


@register_model("resnet32")
def resnet32(in_channels: int, num_classes: int, image_size: int = 32) -> Classifier:
    """CIFAR ResNet-32 as the LT field uses it (LDAM-DRW): 3 stages x 5 BasicBlocks, widths
    16/32/64, option-A shortcuts, ~0.46 M parameters."""
    layers, cin = [*conv_bn(in_channels, 16)], 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for k in range(5):
            layers.append(BasicBlock(cin, planes, stride if k == 0 else 1, option="A"))
            cin = planes
    features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(features, 64, num_classes)


# ----------------------------------------------------------------------------- torchvision / timm
def _last_linear(net: nn.Module) -> tuple[str, nn.Linear]:
    """The classification head of a torchvision classifier: its last nn.Linear (fc, classifier[-1],
    heads.head, ...)."""
    linears = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear classification head")
    return linears[-1]


def _adapt_stem(net: nn.Module, in_channels: int, image_size: int) -> None:
    """ResNets on small images (<= 64 px) get the CIFAR stem (3x3 stride-1 conv, no max-pool), and
    any input channel count: the stem convolution is rebuilt when it differs from RGB."""
    conv = getattr(net, "conv1", None)
    if not isinstance(conv, nn.Conv2d):
        if in_channels != 3:
            raise ConfigError(f"model {type(net).__name__} takes RGB images only (its stem is not rebuilt for other "
                              f"channel counts); this dataset's images have {in_channels} channel(s): choose a ResNet, "
                              "small-cnn or a timm model (in_chans)")
        return
    if image_size <= 64:
        net.conv1 = nn.Conv2d(in_channels, conv.out_channels, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != conv.in_channels:
        net.conv1 = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False)


def torchvision_classifier(name: str, in_channels: int, num_classes: int, image_size: int = 224) -> Classifier:
    """torchvision's own model `name` (random weights), its head split off as our `classifier`, so
    ImageNet checkpoints load into `features` with torchvision's key names (`conv1.weight`, ...)."""
    import torchvision

    net = torchvision.models.get_model(name, weights=None)
    _adapt_stem(net, in_channels, image_size)
    check_input_size(net, name, in_channels, image_size)
    head_name, head = _last_linear(net)
    net.set_submodule(head_name, nn.Identity())
    model = Classifier(net, head.in_features, num_classes)
    model.head_keys = (f"{head_name}.weight", f"{head_name}.bias")
    return model


def check_input_size(net: nn.Module, name: str, in_channels: int, image_size: int) -> None:
    """One image of the training size through the network, before any training: a model that cannot
    take it (a ViT's fixed 224 px, pooling that shrinks 8 px to nothing) is an error naming both."""
    mode = net.training
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, in_channels, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError) as exc:
        lines = str(exc).strip().splitlines()
        raise ConfigError(f"model {name!r} cannot take {image_size} x {image_size} px images with {in_channels} "
                          f"channel(s) ({(lines[0] if lines else type(exc).__name__)[:160]}); choose another --model, "
                          "or --image-size / --crop-size it takes") from None
    finally:
        net.train(mode)


def timm_classifier(name: str, in_channels: int, num_classes: int, image_size: int = 224) -> Classifier:
    """A timm model (`pip install timm`) without its head (`num_classes=0` gives pooled features)."""
    timm = require("timm", "timm", f"model 'timm:{name}'")
    net = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels)
    check_input_size(net, f"timm:{name}", in_channels, image_size)
    model = Classifier(net, net.num_features, num_classes)
    model.head_keys = tuple(f"{net.default_cfg.get('classifier', 'head')}.{p}" for p in ("weight", "bias"))
    return model


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, image_size: int = 224) -> Classifier:
    """torchvision ResNet-18 (CIFAR stem on images <= 64 px)."""
    return torchvision_classifier("resnet18", in_channels, num_classes, image_size)


@register_model("resnet50")
def resnet50(in_channels: int, num_classes: int, image_size: int = 224) -> Classifier:
    """torchvision ResNet-50 v1.5 (CIFAR stem on images <= 64 px)."""
    return torchvision_classifier("resnet50", in_channels, num_classes, image_size)
