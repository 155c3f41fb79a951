import regex, yaml, msgpack, markupsafe
assert regex.findall(r"\p{L}+", "héllo wörld") == ["héllo", "wörld"]
assert yaml.safe_load("a: [1, 2]") == {"a": [1, 2]}
assert msgpack.unpackb(msgpack.packb({"a": 1})) == {"a": 1}
assert str(markupsafe.escape("<b>")) == "&lt;b&gt;"
print("ok")
