from lxml import etree, html
root = etree.fromstring(b"<a><b n='1'/><b n='2'/></a>")
assert [b.get("n") for b in root.xpath("//b")] == ["1", "2"]
assert html.fromstring("<p>hi <i>there</i></p>").text_content() == "hi there"
print("ok")
