"""Code the tests share: tiny configs and models, tools, processes."""
