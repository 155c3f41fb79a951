import numpy as np
from numba import njit, prange
@njit(parallel=True, cache=False)
def total(a):
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i] * 2
    return s
a = np.arange(10_000, dtype=np.float64)
assert total(a) == a.sum() * 2
import numba
print("ok", numba.threading_layer())
