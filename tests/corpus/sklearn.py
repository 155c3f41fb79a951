import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split
X, y = make_classification(n_samples=400, n_features=8, random_state=0)
a, b, ya, yb = train_test_split(X, y, random_state=0)
score = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(a, ya).score(b, yb)
from scipy import optimize, sparse, stats
assert score > 0.8, score
assert abs(optimize.minimize_scalar(lambda x: (x - 2) ** 2).x - 2) < 1e-4
assert sparse.eye(3).nnz == 3 and stats.norm.cdf(0) == 0.5
print("ok", round(score, 3))
