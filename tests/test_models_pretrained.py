"""torchvision models and `--pretrained` backbones; the ImageNet-recipe augmentation on tensors."""

import math

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from synaug.errors import SynaugError
from synaug.training.augment import RandomResizedCrop, center_crop
from synaug.training.models import build_model
from synaug.training.pretrained import load_backbone


def reference_resnet50():
    torch.manual_seed(123)
    net = torchvision.models.resnet50(weights=None)
    for m in net.modules():  # non-trivial BatchNorm statistics, so they must be loaded too
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_resnet50_gives_the_original_features(tmp_path, suffix):
    net = reference_resnet50()
    path = tmp_path / f"resnet50{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file(net.state_dict(), str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)  # DDP-style
    model = build_model("resnet50", in_channels=3, num_classes=5, image_size=96)
    load_backbone(model, path)
    model.eval()
    x = torch.randn(2, 3, 96, 96)
    net.fc = nn.Identity()
    with torch.no_grad():
        assert torch.allclose(model.features(x), net(x), atol=1e-5)
        assert model(x).shape == (2, 5)  # the classifier is sized for the task, not ImageNet's 1000


def test_a_checkpoint_that_does_not_fit_names_the_keys(tmp_path):
    state = reference_resnet50().state_dict()
    state["layer9.weight"] = torch.zeros(3)
    del state["layer4.2.bn3.weight"]
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    model = build_model("resnet50", in_channels=3, num_classes=5, image_size=224)
    with pytest.raises(SynaugError) as err:
        load_backbone(model, tmp_path / "bad.pth")
    msg = str(err.value)
    assert "layer4.2.bn3.weight" in msg and "layer9.weight" in msg and "conv1.weight (64, 3, 3, 3)" in msg
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SynaugError, match="cannot read checkpoint"):
        load_backbone(model, tmp_path / "junk.pth")
    with pytest.raises(SynaugError, match="no pretrained checkpoint"):
        load_backbone(model, tmp_path / "missing.pth")


def test_any_torchvision_classifier_by_name_splits_off_its_head():
    for name in ("mobilenet_v3_small", "resnet18"):
        model = build_model(name, in_channels=3, num_classes=4, image_size=96)
        x = torch.randn(2, 3, 96, 96)
        assert model.features(x).shape == (2, model.feature_dim) and model(x).shape == (2, 4)
    assert build_model("resnet18", in_channels=1, num_classes=3, image_size=28).features.conv1.kernel_size == (3, 3)


def test_random_resized_crop_boxes_follow_torchvision_rules():
    rrc = RandomResizedCrop(16, scale=(0.08, 1.0))
    gen = torch.Generator().manual_seed(0)
    boxes = rrc.boxes(4000, 60, 80, gen)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 80).all() and (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 60).all()
    area = w * h / (60 * 80)
    assert area.min() >= 0.07 and area.max() <= 1.0
    fitted = (w < 80) | (h < 60)  # boxes from a successful try, not the whole-image fallback
    aspect = (w / h)[fitted]
    assert aspect.min() > 0.7 and aspect.max() < 1.45  # within [3/4, 4/3] up to rounding
    # the same step's generator draws the same boxes (resume repeats a run exactly)
    assert torch.equal(rrc.boxes(8, 60, 80, torch.Generator().manual_seed(5)),
                       rrc.boxes(8, 60, 80, torch.Generator().manual_seed(5)))


def test_random_resized_crop_of_the_whole_image_is_the_image():
    x = torch.randint(0, 255, (3, 3, 20, 20), dtype=torch.uint8)
    whole = RandomResizedCrop(20, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    out = whole(x, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and torch.allclose(out, x.float(), atol=1e-3)
    half = RandomResizedCrop(10, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)(x, torch.Generator())
    pooled = torch.nn.functional.avg_pool2d(x.float(), 2)  # 2x2 samples per output pixel = 2x2 average
    assert torch.allclose(half, pooled, atol=1e-3)
    assert torch.equal(center_crop(x, 10), x[..., 5:15, 5:15]) and center_crop(x, None) is x
