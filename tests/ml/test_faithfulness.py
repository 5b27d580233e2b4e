from __future__ import annotations

import numpy as np
import pytest

from ml.faithfulness import on_token_grid


def test_a_map_on_the_token_grid_is_left_as_it_is() -> None:
    maps = np.random.default_rng(0).random((2, 4, 4)).astype(np.float32)
    assert on_token_grid(maps, (4, 4)) is maps


def test_a_finer_map_is_averaged_over_each_tokens_cells() -> None:
    maps = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    # Token (0, 0) covers cells 0, 1, 4 and 5; token (1, 1) covers 10, 11, 14 and 15.
    np.testing.assert_allclose(on_token_grid(maps, (2, 2)), [[[2.5, 4.5], [10.5, 12.5]]])


def test_a_map_that_does_not_divide_into_the_token_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="5x5 map"):
        on_token_grid(np.zeros((1, 5, 5), np.float32), (2, 2))
