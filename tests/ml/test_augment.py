from __future__ import annotations

import torch
import torch.nn.functional as F

from ml.augment import _affine, affine_grid, augment


def test_affine_grid_matches_torch() -> None:
    theta = _affine(4, torch.Generator().manual_seed(0), torch.device("cpu"))
    expected = F.affine_grid(theta, [4, 3, 37, 53], align_corners=False)
    assert torch.allclose(affine_grid(theta, 37, 53), expected, atol=1e-6)


def test_augmented_batch_is_normalised_and_channels_last() -> None:
    images = torch.randint(0, 256, (6, 40, 40, 3), dtype=torch.uint8)
    out = augment(images, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 40, 40)
    # A channels-last model would otherwise convert the input in every convolution.
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out[0], out[1])


def test_augmentation_is_reproducible_with_a_generator() -> None:
    images = torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)
    first = augment(images, [0.5] * 3, [0.5] * 3, torch.Generator().manual_seed(7))
    again = augment(images, [0.5] * 3, [0.5] * 3, torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
