import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from landsat_assets.science import qa
from landsat_assets.science.qa import MaskClass

qa_arrays = arrays(np.uint16, st.integers(1, 64), elements=st.integers(0, 0xFFFF))


@given(qa_arrays)
def test_usable_by_default_exactly_when_bits_0_to_4_are_zero(qa_pixel):
    usable = qa.usable_lookup(qa.DEFAULT_USABLE_CLASSES)[qa.classify(qa_pixel)]
    assert np.array_equal(usable, (qa_pixel & 0b11111) == 0)


@given(qa_arrays)
def test_class_follows_documented_priority(qa_pixel):
    classes = qa.classify(qa_pixel)
    for value, mask_class in zip(qa_pixel.tolist(), classes.tolist(), strict=True):
        bit = lambda b, v=value: bool(v >> b & 1)  # noqa: E731
        if bit(qa.FILL_BIT):
            expected = MaskClass.FILL
        elif bit(qa.CLOUD_BIT):
            expected = MaskClass.CLOUD
        elif bit(qa.DILATED_CLOUD_BIT):
            expected = MaskClass.DILATED_CLOUD
        elif bit(qa.CIRRUS_BIT):
            expected = MaskClass.CIRRUS
        elif bit(qa.CLOUD_SHADOW_BIT):
            expected = MaskClass.CLOUD_SHADOW
        elif bit(qa.SNOW_BIT):
            expected = MaskClass.SNOW
        elif bit(qa.WATER_BIT):
            expected = MaskClass.WATER
        else:
            expected = MaskClass.CLEAR
        assert mask_class == expected


def test_known_usgs_values():
    # Common C2 QA_PIXEL values (21824 = clear with low confidences, 21952 = water).
    known = {
        1: MaskClass.FILL,
        21824: MaskClass.CLEAR,  # clear, low confidence cloud
        21952: MaskClass.WATER,  # clear water
        22080: MaskClass.CLEAR,
        23888: MaskClass.CLOUD_SHADOW,  # shadow bit 4, high shadow confidence
        30048: MaskClass.SNOW,
        55052: MaskClass.CLOUD,  # high confidence cloud with dilation and cirrus bits
        54596: MaskClass.CIRRUS,
        21826: MaskClass.DILATED_CLOUD,
    }
    classes = qa.classify(np.array(list(known), dtype=np.uint16))
    assert [MaskClass(c) for c in classes] == list(known.values())


def test_confidence_pairs():
    value = np.array(
        [(3 << qa.CLOUD_CONFIDENCE_SHIFT) | (1 << qa.CIRRUS_CONFIDENCE_SHIFT)], np.uint16
    )
    assert qa.confidence(value, qa.CLOUD_CONFIDENCE_SHIFT)[0] == 3
    assert qa.confidence(value, qa.CIRRUS_CONFIDENCE_SHIFT)[0] == 1
    assert qa.confidence(value, qa.SNOW_CONFIDENCE_SHIFT)[0] == 0


def test_parse_usable_classes():
    assert qa.parse_usable_classes("clear, water") == {MaskClass.CLEAR, MaskClass.WATER}
    with pytest.raises(ValueError, match="unknown or unusable mask class BOGUS"):
        qa.parse_usable_classes("clear,bogus")
    with pytest.raises(ValueError, match="FILL"):
        qa.parse_usable_classes("fill")
    with pytest.raises(ValueError, match="empty"):
        qa.parse_usable_classes(" , ")
