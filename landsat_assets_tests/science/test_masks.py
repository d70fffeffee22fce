"""Class counts against numpy's own count of every code."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from landsat_assets.science.masks import ClassCounts

codes = arrays(
    np.uint8,
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
    elements=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 255]),
)


@given(st.lists(codes, min_size=1, max_size=4), st.booleans())
def test_class_counts_equal_a_count_of_every_code(blocks, transposed):
    """Blocks of odd and even sizes, and views that are not contiguous."""
    counts = ClassCounts()
    for block in blocks:
        counts.add(block.T if transposed else block)
    expected = sum(np.bincount(block.ravel(), minlength=256) for block in blocks)
    assert np.array_equal(counts.counts, expected)
