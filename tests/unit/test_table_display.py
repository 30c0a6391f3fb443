"""How atlas_nb's frames display in notebooks: styled when atlas_nb made them, plain when the
user reshaped them; text left-aligned, times to the second in the user's timezone."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import atlas_nb as atlas
from atlas_nb.frames import LOG_COLUMNS, frame, logs_frame
from atlas_nb.models import LogEntry
from atlas_nb.widgets import theme
from atlas_nb.widgets.tables import _format, is_styled, plain_number, styled_html


@pytest.fixture
def offers():
    return atlas.offers(providers=["mock"])


def test_a_pivot_of_offers_displays_as_pandas_shows_it_with_its_index_and_rounding(offers):
    cheapest = offers.groupby(["gpu", "provider"])["price_per_gpu_hr"].min().unstack()
    shown = cheapest.round(2)
    assert shown.attrs.get("atlas_kind")  # pandas carries attrs along ...
    assert not is_styled(shown)  # ... but its columns are not the ones atlas_nb made
    html = _format(shown)
    assert html == shown._repr_html_()
    for gpu in cheapest.index:  # the GPU index labels are there
        assert f">{gpu}<" in html
    assert not re.search(r"\d\.\d{6}", html)  # and no six-decimal padding


def test_selections_of_a_returned_frame_stay_styled_and_keep_a_real_index(offers):
    assert is_styled(offers) and is_styled(offers.head(3)) and is_styled(offers[["gpu"]])
    by_gpu = offers.set_index("gpu")
    html = styled_html(by_gpu)
    assert all(f">{g}<" in html for g in by_gpu.index[:3])  # the index is kept
    plain = styled_html(offers)
    assert 'class="row_heading' not in plain  # a default 0..n-1 index is hidden


def test_styled_numbers_respect_the_frames_rounding(offers):
    rounded = offers.round({c: 2 for c in offers.select_dtypes("number").columns})
    html = styled_html(rounded)
    assert is_styled(rounded)
    assert not re.search(r"\d\.\d{6}", html)
    cents = re.findall(r"\$[\d,]+\.(\d+)<", html)
    assert cents and all(len(c) == 2 for c in cents)  # rounded to cents: shown in cents


def test_text_is_left_aligned_and_times_are_to_the_second_in_the_local_timezone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30, no DST
    time.tzset()
    try:
        when = datetime(2026, 3, 1, 12, 0, 7, 123456, tzinfo=UTC)
        df = logs_frame([LogEntry(timestamp=when, level="info", message="listening on :8888")])
        html = _format(df)
        assert is_styled(df)
        assert "2026-03-01 17:30:07" in html  # local time, to the second
        assert "123456" not in html and "+00:00" not in html and "12:00:07" not in html
        assert "times in IST" in html
        # inline, so it holds where <style> is dropped (an untrusted saved notebook)
        cell = re.search(r'<td id="T_\w+_row0_col5" style="([^"]*)" class="data row0 col5" >', html)
        assert cell is not None and "text-align: left" in cell.group(1)
        level = re.search(r'<td id="T_\w+_row0_col1" style="([^"]*)"', html)
        assert level is not None  # "info" is text too
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_frame_the_user_made_is_not_styled():
    df = pd.DataFrame({"price_per_hr": [0.123456], "name": ["x"]})
    assert not is_styled(df)
    assert _format(df) == df._repr_html_()
    df.attrs["atlas_kind"] = "offers"  # a kind without the columns atlas_nb made it with
    assert not is_styled(df)


def test_every_frame_atlas_nb_builds_is_marked_with_its_columns():
    df = frame([], LOG_COLUMNS)
    assert df.attrs["atlas_kind"] == "table"
    assert df.attrs["atlas_columns"] == tuple(LOG_COLUMNS)


def test_the_stylesheet_uses_the_theme_palette():
    css = (Path(theme.__file__).parent / "stream_view.css").read_text()
    declared = dict(re.findall(r"--atlas-([a-z]+):\s*(#[0-9a-fA-F]{6})", css))
    assert declared == theme.PALETTE
    body = re.sub(r"--atlas-[a-z]+:\s*#[0-9a-fA-F]{6};", "", css)
    used = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}", body)}
    assert not used & {c.lower() for c in theme.PALETTE.values()}  # colours only via variables


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_money_reads_back_as_the_value_to_its_shown_precision(value):
    text = theme.money(value)
    number = float(text.replace("$", "").replace(",", ""))
    decimals = len(text.split(".")[1])
    assert 2 <= decimals <= 4
    assert abs(number - value) <= 0.5 * 10**-decimals + 1e-9 * max(1.0, abs(value))


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_plain_numbers_read_back_to_six_decimals(value):
    assert abs(float(plain_number(value).replace(",", "")) - value) <= 5e-7 + 1e-12 * abs(value)


def test_missing_values_show_a_dash():
    assert theme.money(pd.NA) == theme.money(float("nan")) == plain_number(pd.NA) == "-"
