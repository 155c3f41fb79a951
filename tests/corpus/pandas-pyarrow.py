import io
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1.0, 2.0, 3.0]})
buf = io.BytesIO()
pq.write_table(pa.Table.from_pandas(df), buf)
back = pq.read_table(io.BytesIO(buf.getvalue())).to_pandas()
assert back.groupby("k")["v"].sum().to_dict() == {"a": 4.0, "b": 2.0}
print("ok", len(buf.getvalue()))
