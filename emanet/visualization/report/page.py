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

#: Cards whose images load at once; the rest load as they scroll in.
EAGER_CARDS = 24

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d8dce3; --bg: #f5f6f8;
        --accent: #2b59c3; --bad: #e6194b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
       Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, section { max-width: 1400px; margin: 0 auto; padding: 12px 20px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 18px 0 8px; border-bottom: 1px solid
     var(--line); padding-bottom: 4px; }
.settings { display: grid; grid-template-columns: max-content 1fr;
            gap: 2px 14px; margin: 8px 0; }
.settings dt { color: var(--muted); }
.settings dd { margin: 0; word-break: break-all; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 6px;
        padding: 8px 14px; min-width: 110px; }
.tile b { display: block; font-size: 22px; }
.tile span { color: var(--muted); }
table.classes { border-collapse: collapse; background: #fff; }
table.classes th, table.classes td { padding: 3px 10px; border-bottom: 1px
     solid var(--line); text-align: right; }
table.classes th:first-child, table.classes td:first-child {
     text-align: left; }
table.classes th { cursor: pointer; user-select: none; background: #eef0f4;
                   position: sticky; top: 0; }
table.classes th[aria-sort=ascending]::after { content: " \\25B2"; }
table.classes th[aria-sort=descending]::after { content: " \\25BC"; }
.bar { display: inline-block; height: 8px; background: var(--accent);
       vertical-align: middle; margin-left: 6px; opacity: .5; }
.swatch { display: inline-block; width: 12px; height: 12px;
          border: 1px solid #0003; vertical-align: -1px; margin-right: 6px; }
.columns { display: flex; flex-wrap: wrap; gap: 8px 40px;
           align-items: flex-start; }
.columns > div { flex: 0 1 auto; min-width: 0; }
#per-class { max-width: 470px; }
#confusion-matrix { flex: 1 1 560px; }
.matrix img { width: 100%; max-width: 820px; background: #fff;
              border: 1px solid var(--line); }
#filter-below { width: 6em; }
.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: center;
           background: #fff; border: 1px solid var(--line); padding: 8px 12px;
           border-radius: 6px; position: sticky; top: 0; z-index: 1; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin: 8px 0;
          color: var(--muted); }
.gallery { display: flex; flex-direction: column; gap: 14px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px;
        padding: 8px 10px; margin: 0; }
.card[hidden] { display: none; }
.card h3 { font-size: 14px; margin: 0 0 6px; font-weight: 600; }
.card h3 .miou { color: var(--bad); margin-left: 8px; }
.card .worst { color: var(--muted); font-size: 13px; margin-bottom: 6px; }
.panels { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }
.panels figure { margin: 0; }
.panels img { width: 100%; height: auto; display: block;
              image-rendering: auto; border: 1px solid var(--line); }
.panels img.label { image-rendering: pixelated; }
.panels figcaption { font-size: 12px; color: var(--muted); }
.muted { color: var(--muted); }
"""

JS = r"""
(function () {
  'use strict';
  // Per-class table: click a header to sort by it (again to reverse).
  var table = document.getElementById('class-table');
  var heads = table.querySelectorAll('thead th');
  heads.forEach(function (th, col) {
    th.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        th.click();
      }
    });
    th.addEventListener('click', function () {
      var down = th.getAttribute('aria-sort') !== 'descending';
      if (th.dataset.type === 'text' && !th.hasAttribute('aria-sort')) {
        down = false;
      }
      heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        if (th.dataset.type === 'text') {
          return down ? y.localeCompare(x) : x.localeCompare(y);
        }
        // Missing values (n/a) always last.
        if (x === '') { return y === '' ? 0 : 1; }
        if (y === '') { return -1; }
        return down ? Number(y) - Number(x) : Number(x) - Number(y);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });

  // Gallery: show only images whose IoU of a class is under a threshold.
  var select = document.getElementById('filter-class');
  var limit = document.getElementById('filter-below');
  var shown = document.getElementById('shown');
  var cards = document.querySelectorAll('.card');
  function apply() {
    var cls = select.value, below = parseFloat(limit.value), count = 0;
    cards.forEach(function (card) {
      var keep = true;
      if (cls !== '') {
        var iou = JSON.parse(card.dataset.iou)[cls];
        // No limit typed: every image that has the class.
        keep = iou !== undefined && (isNaN(below) || iou < below);
      }
      card.hidden = !keep;
      if (keep) { count += 1; }
    });
    shown.textContent = count;
  }
  select.addEventListener('change', apply);
  limit.addEventListener('input', apply);
  apply();
}());
"""


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
