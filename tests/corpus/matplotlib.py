import io, os, tempfile
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp())
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [3, 1, 2])
buf = io.BytesIO()
fig.savefig(buf, format="png")
assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
print("ok", len(buf.getvalue()))
