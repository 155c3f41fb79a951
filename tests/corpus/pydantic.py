import orjson
from pydantic import BaseModel
class Item(BaseModel):
    name: str
    qty: int
item = Item.model_validate({"name": "x", "qty": "3"})
assert item.qty == 3
assert orjson.loads(orjson.dumps(item.model_dump())) == {"name": "x", "qty": 3}
print("ok")
