"""Batched augmentation: each photo op does what it says, all-off is the identity, the defaults draw exactly what
they drew before the photo ops existed, and the pipeline runs under bf16 autocast."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ferkit.config import AugmentConfig
from ferkit.data.augment import RandomLowResolution, augment_batch, build_augment, implied_zoom, mixup

OFF = AugmentConfig(flip=False, affine=False, crop=False, erasing=0.0)
PHOTO_OPS = ("perspective", "light", "gamma", "low_res", "blur", "jpeg")


def faces(b=16, seed=0) -> torch.Tensor:
    """(B, 1, 48, 48) in [0, 1]: a smooth face-like blob plus fine texture (the high frequencies)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    blob = 0.5 + 0.3 * torch.exp(-(xx**2 + yy**2) / 0.3)
    texture = 0.15 * (torch.rand(b, 1, 48, 48, generator=g) - 0.5)
    return (blob + texture).clamp(0, 1)


def high_freq(x: torch.Tensor) -> float:
    """Mean squared Laplacian: the energy at the finest scales."""
    k = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=x.dtype).view(1, 1, 3, 3)
    return float(F.conv2d(x.float(), k.float()).pow(2).mean())


def only(**kw) -> AugmentConfig:
    return replace(OFF, **kw)


def run(cfg: AugmentConfig, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return augment_batch(build_augment(cfg), x.clone())


def test_all_off_is_identity():
    x = faces()
    assert isinstance(build_augment(OFF), torch.nn.Identity)
    torch.testing.assert_close(run(OFF, x), x)


def test_photo_ops_are_off_by_default_and_defaults_draw_as_before():
    cfg = AugmentConfig()
    assert all(getattr(cfg, op) == 0 for op in PHOTO_OPS)
    import kornia.augmentation as K

    before = K.AugmentationSequential(  # build_augment(AugmentConfig()) as it was before the photo ops
        K.RandomHorizontalFlip(p=0.5),
        K.RandomResizedCrop((48, 48), scale=(0.8, 1.0), ratio=(0.9, 1.1), p=1.0),
        K.RandomAffine(degrees=10.0, translate=(0.1, 0.1), scale=(0.9, 1.1), padding_mode="reflection", p=0.8),
        K.RandomErasing(p=0.25, scale=(0.02, 0.2), value=0.0),
        data_keys=["input"],
    )
    x = faces()
    torch.manual_seed(3)
    expected = augment_batch(before, x.clone())
    torch.testing.assert_close(run(cfg, x, seed=3), expected)


@pytest.mark.parametrize("op", PHOTO_OPS)
def test_each_op_keeps_shape_dtype_and_range_and_changes_the_faces(op):
    x = faces()
    y = run(only(**{op: 1.0}), x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert (y - x).abs().mean() > 1e-3


@pytest.mark.parametrize("op", ["blur", "low_res", "jpeg"])
def test_faces_not_drawn_pass_unchanged(op):
    x = faces(64)
    y = run(only(**{op: 0.5}), x)
    same = ((y - x).abs().flatten(1).max(1).values == 0).float().mean()
    assert 0.2 < float(same) < 0.8  # about half the faces blurred, the rest exactly as they were


def test_low_resolution_removes_high_frequencies():
    x = faces()
    y = run(only(low_res=1.0, low_res_side=(12, 16)), x)
    assert high_freq(y) < 0.25 * high_freq(x)
    assert abs(float(y.mean() - x.mean())) < 0.01  # area averaging keeps the mean grey
    # one side: exactly an area shrink and a bilinear enlargement
    op = RandomLowResolution((20, 20), p=1.0)
    small = F.interpolate(x, size=(20, 20), mode="area")
    torch.testing.assert_close(op(x), F.interpolate(small, size=(48, 48), mode="bilinear", align_corners=False))


def test_low_resolution_side_is_drawn_per_face():
    op = RandomLowResolution((12, 40), p=1.0)
    torch.manual_seed(0)
    sides = op.forward_parameters(torch.Size([64, 1, 48, 48]))["side"]
    assert int(sides.min()) >= 12 and int(sides.max()) <= 40 and len(sides.unique()) > 10
    with pytest.raises(ValueError):
        RandomLowResolution((20, 10))


def test_blur_removes_high_frequencies_and_keeps_the_mean():
    x = faces()
    y = run(only(blur=1.0, blur_sigma=(1.0, 1.5)), x)
    assert high_freq(y) < 0.25 * high_freq(x)
    assert abs(float(y.mean() - x.mean())) < 0.01


def test_jpeg_is_lossy_and_lower_quality_loses_more():
    x = faces()
    low = run(only(jpeg=1.0, jpeg_quality=(10.0, 10.0)), x)
    high = run(only(jpeg=1.0, jpeg_quality=(95.0, 95.0)), x)
    err_low, err_high = float((low - x).abs().mean()), float((high - x).abs().mean())
    assert 0 < err_high < err_low < 0.1
    assert abs(float(low.mean() - x.mean())) < 0.02


def test_gamma_moves_the_mean():
    x = faces()
    assert float(run(only(gamma=1.0, gamma_range=(1.6, 1.6)), x).mean()) < float(x.mean()) - 0.05
    assert float(run(only(gamma=1.0, gamma_range=(0.6, 0.6)), x).mean()) > float(x.mean()) + 0.05


def test_light_scales_brightness_and_contrast():
    x = faces()
    bright = run(only(light=1.0, brightness=(1.2, 1.2), contrast=(1.0, 1.0)), x)
    assert float(bright.mean()) > float(x.mean()) + 0.05
    flat = run(only(light=1.0, brightness=(1.0, 1.0), contrast=(0.5, 0.5)), x)
    assert float(flat.std()) < 0.6 * float(x.std()) and abs(float(flat.mean() - x.mean())) < 0.01


def test_perspective_is_small_and_keeps_the_scale():
    x = faces()
    y = run(only(perspective=1.0, perspective_scale=0.15), x)
    assert (y - x).abs().mean() < 0.1  # a small turn, not a different picture
    z = implied_zoom(only(perspective=1.0, perspective_scale=0.15), n=2000)
    assert abs(z["mean"] - 1.0) < 0.02  # area-preserving: no systematic zoom


def test_whole_pipeline_under_bf16_autocast():
    cfg = replace(AugmentConfig(), **{op: 1.0 for op in PHOTO_OPS})
    aug = build_augment(cfg)
    x = faces(32)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = augment_batch(aug, x.clone())
    assert y.shape == x.shape and y.dtype == torch.float32
    assert torch.isfinite(y).all() and float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_implied_zoom():
    assert implied_zoom(OFF) == {"mean": 1.0, "median": 1.0, "geomean": 1.0}
    affine = only(affine=True, degrees=0.0, translate=0.0, scale=(1.2, 1.2))  # applied with p=0.8
    assert implied_zoom(affine, n=4000)["mean"] == pytest.approx(0.8 * 1.2 + 0.2, abs=0.01)
    z = implied_zoom(AugmentConfig(), n=4000)  # random resized crop of 80-100% area: about 1/sqrt(0.9)
    assert 1.04 < z["mean"] < 1.09 and np.isclose(z["mean"], z["median"], atol=0.01)
    state = torch.random.get_rng_state()
    implied_zoom(AugmentConfig(), n=100)
    assert torch.equal(state, torch.random.get_rng_state())  # sampling leaves the caller's RNG alone


def test_mixup_blends_each_face_into_its_partner_image():
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 1, 4, 4) / 8  # image j is the constant j / 8
    torch.manual_seed(0)
    lams = []
    for _ in range(20):
        mixed, lam, partner = mixup(x, 0.4)
        assert sorted(partner.tolist()) == list(range(8))  # every face blended into exactly one other image
        for j in range(8):  # image partner[j] is lam of its own face plus 1 - lam of face j
            expected = lam * x[partner[j]] + (1 - lam) * x[j]
            torch.testing.assert_close(mixed[partner[j]], expected)
        lams.append(lam)
    assert min(lams) >= 0.5 and max(lams) < 1.0 and len(set(lams)) == 20  # folded, and drawn anew each batch
