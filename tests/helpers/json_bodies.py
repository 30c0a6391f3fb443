"""Hypothesis strategies for JSON a provider (or a proxy in front of it) might send."""

from __future__ import annotations

from hypothesis import strategies as st

#: awkward scalars: nulls, huge ints, NaN/inf, empty and non-ASCII text, look-alike values
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", "None", "2026-13-45T99:00:00Z", "NaN", "-1", "1e999", "🙂", "\x00"])
)

#: any JSON value, nested a little
any_json = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
