from datetime import timedelta

import pandas as pd
import pytest

from atlas_nb import frames
from atlas_nb._durations import to_seconds
from atlas_nb.errors import ValidationError


@pytest.mark.parametrize(
    "schema",
    [frames.COMPUTE_COLUMNS, frames.OFFER_COLUMNS, frames.GPU_TYPE_COLUMNS, frames.LOG_COLUMNS],
)
def test_empty_frames_keep_columns_and_dtypes(schema):
    df = frames.frame([], schema)
    assert list(df.columns) == list(schema)
    assert [str(t) for t in df.dtypes] == list(schema.values())


def test_offers_frame_sorted_with_price_per_gpu():
    now = pd.Timestamp.now(tz="UTC")
    rows = [
        {"provider": "b", "gpu": "h100", "gpu_count": 8, "price_per_hr": 16.0, "fetched_at": now},
        {"provider": "a", "gpu": "l4", "gpu_count": 1, "price_per_hr": 0.4, "fetched_at": now},
        {"provider": "c", "gpu": "l4", "gpu_count": 1, "price_per_hr": None, "fetched_at": now},
    ]
    df = frames.offers_frame(rows)
    assert list(df["provider"]) == ["a", "b", "c"]
    assert list(df["price_per_gpu_hr"][:2]) == [0.4, 2.0]
    assert pd.isna(df["price_per_gpu_hr"][2])


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        (" 2 h ", 7200.0),
        (timedelta(minutes=2), 120.0),
    ],
)
def test_durations(value, seconds):
    assert to_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "5x", "h1", "1h 30", -1, True, None, [1]])
def test_bad_durations(value):
    with pytest.raises(ValidationError, match="not a duration"):
        to_seconds(value, field="idle_ttl")
