"""Models by name. Every model is a `Classifier`: a feature extractor and one last linear layer,
so stage 2 can freeze the features and fine-tune (or re-train) only the classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from synaug.registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def build_model(name: str, *, in_channels: int, num_classes: int, image_size: int = 32) -> Classifier:
    return MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


class Classifier(nn.Module):
    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim

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


# ----------------------------------------------------------------------------- ResNet-18 / 50
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = nn.Identity() if stride == 1 and cin == out else nn.Sequential(
            nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x), inplace=True)


def _resnet(block, depths, in_channels: int, num_classes: int, image_size: int) -> Classifier:
    """torchvision-shaped ResNet; small inputs (<= 64 px) get the CIFAR stem (3x3, no max-pool)."""
    if image_size <= 64:
        stem = conv_bn(in_channels, 64)
    else:
        stem = [nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1)]
    layers, cin = list(stem), 64
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), depths)):
        for k in range(n):
            layers.append(block(cin, planes, 2 if (k == 0 and i > 0) else 1))
            cin = planes * block.expansion
    return Classifier(nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), cin, num_classes)


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, image_size: int = 32) -> Classifier:
    return _resnet(BasicBlock, (2, 2, 2, 2), in_channels, num_classes, image_size)


@register_model("resnet50")
def resnet50(in_channels: int, num_classes: int, image_size: int = 224) -> Classifier:
    return _resnet(Bottleneck, (3, 4, 6, 3), in_channels, num_classes, image_size)
