import black
out = black.format_str("x = {  'a':37,'b':42,\n'c':927}\n", mode=black.Mode())
assert out == 'x = {"a": 37, "b": 42, "c": 927}\n', out
print("ok black", black.__version__)
