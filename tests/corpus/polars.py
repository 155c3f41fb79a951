import polars as pl
df = pl.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]})
out = df.group_by("k").agg(pl.col("v").sum()).sort("k")
assert out["v"].to_list() == [4, 2]
print("ok", out.shape)
