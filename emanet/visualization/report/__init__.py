"""The HTML evaluation report of ``tools/test.py --report DIR``.

:mod:`.gallery` writes each image's pictures (:mod:`.thumbnails`) as the
test delivers it and keeps its counts, :mod:`.collect` turns the counts
into the numbers the page shows, :mod:`.build` assembles the report,
:mod:`.page` renders it and :mod:`.folder` writes the folder whole or not
at all. :class:`~emanet.engine.hooks.ReportHook` feeds them during the
test run.
"""
