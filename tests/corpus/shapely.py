from shapely.geometry import Point, Polygon
sq = Polygon([(0, 0), (2, 0), (2, 2), (0, 2)])
assert sq.area == 4.0
assert abs(Point(0, 0).buffer(1.0).area - 3.1365) < 0.01
print("ok")
