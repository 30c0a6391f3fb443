"""``frames.frame`` builds one typed column per schema entry: same columns and dtypes for any
rows (none, missing keys, NA of every kind), values converted without a detour through float."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from atlas_nb.frames import UTC_TS, frame

SCHEMA = {"s": "string", "i": "Int64", "f": "Float64", "t": UTC_TS}
JAN1 = pd.Timestamp("2024-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], []),
        (
            [{"s": "a", "i": 1, "f": 1.5, "t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}],
            [("a", 1, 1.5, JAN1)],
        ),
        (  # a None above an int does not turn the int into "5.0"
            [{"s": None}, {"s": 5, "i": 2.0, "f": 3, "t": "2024-01-01T00:00:00Z"}],
            [(None, None, None, None), ("5", 2, 3.0, JAN1)],
        ),
        ([{"i": float("nan"), "f": float("nan"), "t": pd.NaT, "extra": 1}], [(None,) * 4]),
    ],
)
def test_frame_has_the_schema_and_the_values(rows, expected):
    df = frame(rows, SCHEMA)
    assert list(df.columns) == list(SCHEMA)
    assert [str(t) for t in df.dtypes] == list(SCHEMA.values())
    assert list(df.index) == list(range(len(expected)))
    got = [tuple(None if pd.isna(v) else v for v in row) for row in df.itertuples(index=False)]
    assert got == expected


def test_a_value_that_does_not_fit_its_column_raises():
    with pytest.raises((TypeError, ValueError)):
        frame([{"i": 1.5}], SCHEMA)
