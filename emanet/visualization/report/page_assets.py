"""The page's style and script, inline in every report (nothing is
fetched): the layout, the sortable per-class table and the gallery's class
filter."""

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
