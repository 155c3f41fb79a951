import numpy as np, pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
rng = np.random.default_rng(0)
df = pd.DataFrame({"x": rng.normal(size=200)})
df["y"] = 3 * df["x"] + rng.normal(scale=0.1, size=200)
fit = smf.ols("y ~ x", data=df).fit()
assert abs(fit.params["x"] - 3) < 0.05, fit.params
print("ok", round(fit.rsquared, 3))
