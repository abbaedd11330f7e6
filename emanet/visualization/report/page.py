"""The report's HTML page: one self-contained file, inline CSS and JS.

Nothing is fetched from the network: the page opens from disk and shows
the thumbnails beside it. Sorting the per-class table and filtering the
gallery by a class's IoU run in a few lines of plain JavaScript; without
JavaScript the page still shows everything, unsorted and unfiltered.
"""
import html
import json
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import quote

from .page_assets import CSS, JS

#: Cards whose images load at once; the rest load as they scroll in.
EAGER_CARDS = 24


def _e(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value), quote=True)


def _url(path: str) -> str:
    """A relative file path as an escaped URL (spaces, ``#``, ``%``)."""
    return _e(quote(path.replace(osp.sep, '/'), safe='/._-~'))


def format_score(value: Optional[float]) -> str:
    """A score as the printed table shows it (2 decimals); n/a for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'n/a'
    return f'{value:.2f}'


def _settings(settings: Dict[str, Any]) -> str:
    rows = ''.join(f'<dt>{_e(k)}</dt><dd>{_e(v)}</dd>'
                   for k, v in settings.items())
    return f'<dl class="settings">{rows}</dl>'


def _tiles(metrics: Dict[str, Any]) -> str:
    tiles = []
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            tiles.append(f'<div class="tile" data-metric="{_e(key)}">'
                         f'<b>{_e(format_score(float(value)))}</b>'
                         f'<span>{_e(key)}</span></div>')
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _class_table(table: Dict[str, list],
                 palette: Sequence[Sequence[int]]) -> str:
    keys = list(table)
    head = ''.join(
        f'<th tabindex="0" data-key="{_e(k)}" data-type="'
        f'{"text" if k == "Class" else "number"}" title="sort by {_e(k)}">'
        f'{_e(k if k != "Pixels" else "Pixels %")}</th>' for k in keys)
    rows = []
    for i, name in enumerate(table['Class']):
        color = palette[i] if i < len(palette) else (0, 0, 0)
        swatch = (f'<span class="swatch" style="background:rgb('
                  f'{int(color[0])},{int(color[1])},{int(color[2])})">'
                  '</span>')
        cells = [f'<td data-value="{_e(name)}">{swatch}{_e(name)}</td>']
        for key in keys[1:]:
            value = table[key][i]
            raw = '' if value is None else repr(float(value))
            bar = ''
            if key == 'IoU' and value is not None:
                bar = (f'<span class="bar" style="width:'
                       f'{max(0.0, min(100.0, value)) * 0.6:.0f}px"></span>')
            cells.append(f'<td data-value="{raw}">'
                         f'{format_score(value)}{bar}</td>')
        rows.append(f'<tr data-class="{_e(name)}">{"".join(cells)}</tr>')
    return (f'<table class="classes" id="class-table"><thead><tr>{head}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _confusion(confusion: Dict[str, Any]) -> str:
    pairs = ''.join(
        f'<li>{_e(g)} &rarr; {_e(p)}: {s:.1f}% of its pixels</li>'
        for g, p, s in confusion.get('most_confused', []))
    listing = (f'<p>Most confused (ground truth &rarr; prediction):</p>'
               f'<ol>{pairs}</ol>' if pairs else '')
    return (f'<div class="matrix"><a href="{_url(confusion["image"])}">'
            f'<img id="confusion" src="{_url(confusion["image"])}" '
            f'alt="confusion matrix"></a></div><p class="muted">Rows: '
            'ground truth, columns: prediction, each row in % of its '
            'pixels; the counts are in <a href="report.json">report.json'
            f'</a>.</p>{listing}')


def _legend(classes: Sequence[str], palette: Sequence[Sequence[int]],
            error_colors: Dict[str, Sequence[int]]) -> str:
    items = [
        f'<span><span class="swatch" style="background:rgb({c[0]},{c[1]},'
        f'{c[2]})"></span>{_e(n)}</span>' for n, c in zip(classes, palette)
    ]
    items.append('<span><span class="swatch" style="background:#000">'
                 '</span>ignored (label maps)</span>')
    for name, c in error_colors.items():
        items.append(f'<span><span class="swatch" style="background:rgb('
                     f'{c[0]},{c[1]},{c[2]})"></span>{_e(name)} (error '
                     'map)</span>')
    return f'<div class="legend">{"".join(items)}</div>'


def _card(rank: int, image: Dict[str, Any], classes: Sequence[str]) -> str:
    files = image['files']
    lazy = '' if rank <= EAGER_CARDS else ' loading="lazy"'
    worst = ', '.join(
        f'{_e(w["class"])} {format_score(w["iou"])} '
        f'({w["wrong"]:,} px wrong)' for w in image['worst'])
    worst = f'most wrong: {worst}' if worst else 'no wrong pixels'
    panels = [
        ('image', image.get('img_link') or files['image'], files['image'],
         ''),
        ('ground truth', files['gt_full'], files['gt'], ' class="label"'),
        ('prediction', files['pred_full'], files['pred'], ' class="label"'),
        ('errors', files['error_full'], files['error'], ''),
    ]
    figures = ''.join(
        f'<figure><a href="{_url(link)}"><img src="{_url(src)}" '
        f'alt="{_e(caption)} of {_e(image["name"])}"{cls}{lazy}></a>'
        f'<figcaption>{_e(caption)}</figcaption></figure>'
        for caption, link, src, cls in panels)
    iou = json.dumps({str(k): v for k, v in image['iou'].items()})
    miou = format_score(image['mIoU'])
    return (f'<figure class="card" id="img-{rank}" data-name="'
            f'{_e(image["name"])}" data-miou="{_e(miou)}" data-iou="'
            f'{_e(iou)}"><h3>#{rank} {_e(image["name"])}<span class="miou">'
            f'mIoU {miou}</span></h3><div class="worst">{worst}</div>'
            f'<div class="panels">{figures}</div></figure>')


def render_page(report: Dict[str, Any]) -> str:
    """The HTML page of a report.

    Args:
        report: the report record (what ``report.json`` holds):
            ``title``, ``settings`` (label -> value), ``metrics``,
            ``classes``, ``palette``, ``per_class`` (table of
            :func:`~.collect.class_table`), ``confusion`` (``image`` file
            and ``most_confused`` triples), ``images`` (worst first, each
            with ``name``, ``mIoU``, ``iou``, ``worst``, ``files``,
            optionally ``img_link``) and ``error_colors``.

    Returns:
        str: the page.
    """
    classes = report['classes']
    palette = report['palette']
    images: List[Dict[str, Any]] = report['images']
    options = ''.join(f'<option value="{i}">{_e(name)}</option>'
                      for i, name in enumerate(classes))
    cards = ''.join(
        _card(rank, image, classes) for rank, image in enumerate(images, 1))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(report['title'])}</title>
<style>{CSS}</style></head>
<body>
<header><h1>{_e(report['title'])}</h1>
{_settings(report['settings'])}
{_tiles(report['metrics'])}
</header>
<section class="columns">
<div id="per-class"><h2>Per-class results</h2>
<p class="muted">Click a column header to sort. Scores as the test metric
computes them; Pixels: share of the labelled ground-truth pixels.</p>
{_class_table(report['per_class'], palette)}
</div>
<div id="confusion-matrix"><h2>Confusion matrix</h2>
{_confusion(report['confusion'])}
</div>
</section>
<section id="images"><h2>Images, worst mIoU first</h2>
<form class="filters" onsubmit="return false">
<label>show images where <select id="filter-class">
<option value="">any class</option>{options}</select></label>
<label>IoU &lt; <input id="filter-below" type="number" min="0" max="100.01"
step="any" value="50" size="5"></label>
<span class="muted">showing <b id="shown">{len(images)}</b> of
{len(images)}</span>
</form>
{_legend(classes, palette, report['error_colors'])}
<div class="gallery">{cards}</div>
</section>
<script>{JS}</script>
</body></html>
"""
