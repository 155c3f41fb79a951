import io
from PIL import Image, ImageFilter
im = Image.new("RGB", (64, 48), (200, 30, 30)).filter(ImageFilter.GaussianBlur(2)).resize((32, 24))
buf = io.BytesIO()
im.save(buf, "JPEG")
assert Image.open(io.BytesIO(buf.getvalue())).size == (32, 24)
print("ok", len(buf.getvalue()))
