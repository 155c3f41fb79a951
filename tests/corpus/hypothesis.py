import numpy as np
import hypothesis.extra.numpy as hnp
from hypothesis import given, settings, strategies as st


@settings(max_examples=50, database=None, deadline=None)
@given(hnp.arrays(np.int64, st.integers(0, 20), elements=st.integers(-1000, 1000)))
def sorts_like_python(a):
    assert np.sort(a).tolist() == sorted(a.tolist())


sorts_like_python()
print("ok hypothesis")
