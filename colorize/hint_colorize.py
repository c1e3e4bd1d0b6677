def hint_colorize(*a, **k):
    raise NotImplementedError
