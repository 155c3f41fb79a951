import duckdb
import polars as pl
rows = duckdb.sql(
    "select k, sum(v) as s from (values ('a', 1), ('b', 2), ('a', 3)) t(k, v) group by k order by k"
).fetchall()
df = pl.DataFrame(rows, schema=["k", "s"], orient="row")
assert df["s"].to_list() == [4, 2], df
con = duckdb.connect()
con.execute("create table t as select range as i from range(1000)")
assert con.execute("select sum(i) from t").fetchone()[0] == 499500
print("ok", df.shape, duckdb.__version__)
