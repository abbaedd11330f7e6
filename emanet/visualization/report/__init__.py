"""The HTML evaluation report of ``tools/test.py --report DIR``.

:mod:`.collect` turns each image's confusion counts into the numbers the
page shows, :mod:`.thumbnails` writes its pictures and :mod:`.page`
renders the page; :class:`~emanet.engine.hooks.ReportHook` drives them
during the test run.
"""
