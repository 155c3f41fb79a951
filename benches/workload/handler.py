"""The seed stack's simulated data-science job, used as lpack's example handler.

It imports what a typical data-science Lambda imports (numpy, pandas, pyarrow, Powertools with
X-Ray tracing), builds a DataFrame, computes per-group statistics, round-trips the frame through
Parquet with pyarrow in memory, and returns a small summary. Cold-start cost is dominated by the
imports at module level, exactly as in real functions.

Deploy it with `lpack build --src benches/workload` and the handler name `handler.handler`.
"""

import io
import time

_t0 = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _t0

logger = Logger(service="lpack-workload")
tracer = Tracer(service="lpack-workload")
metrics = Metrics(namespace="lpack", service="lpack-workload")


def simulate(rows: int = 100_000, seed: int = 42) -> dict:
    """Build a frame, aggregate it, round-trip it through Parquet, and summarise."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "sensor": rng.integers(0, 50, size=rows),
            "value": rng.normal(20.0, 5.0, size=rows),
            "ok": rng.random(rows) > 0.05,
        }
    )
    stats = df[df["ok"]].groupby("sensor")["value"].agg(["mean", "std", "count"])

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df), buf, compression="snappy")
    parquet_bytes = buf.tell()
    buf.seek(0)
    back = pq.read_table(buf).to_pandas()
    if len(back) != rows or not np.allclose(back["value"].to_numpy(), df["value"].to_numpy()):
        raise RuntimeError("parquet round trip changed the data")

    return {
        "rows": rows,
        "sensors": int(stats.shape[0]),
        "mean_of_means": round(float(stats["mean"].mean()), 6),
        "parquet_bytes": int(parquet_bytes),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "import_seconds": round(IMPORT_SECONDS, 3),
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    rows = int((event or {}).get("rows", 100_000))
    summary = simulate(rows=rows)
    metrics.add_metric(name="RowsProcessed", unit=MetricUnit.Count, value=rows)
    logger.info("workload done", extra=summary)
    return summary


if __name__ == "__main__":
    print(simulate())
