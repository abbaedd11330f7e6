"""A row-normalised confusion matrix as a picture with class names.

Drawn with matplotlib's object API on an Agg canvas, so it needs no
display and leaves pyplot's backend alone.
"""
import difflib
import io
from typing import Optional, Sequence

import numpy as np

from emanet.utils.atomic_io import atomic_write_bytes
from emanet.utils.errors import UserError


def colormap_names() -> list:
    """The matplotlib colour map names ``--color-theme`` accepts."""
    import matplotlib
    return sorted(matplotlib.colormaps)


def check_colormap(name: str) -> str:
    """``name`` if matplotlib knows it.

    Raises:
        UserError: unknown name, with the closest known ones.
    """
    names = colormap_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f'; did you mean {", ".join(close)}?' if close else ''
        raise UserError(f'--color-theme {name!r} is not a matplotlib colour '
                        f'map (e.g. winter, Blues, viridis){hint}')
    return name


def plot_confusion_matrix(percent: np.ndarray,
                          classes: Sequence[str],
                          title: str = 'Normalized Confusion Matrix',
                          cmap: str = 'winter',
                          out_file: Optional[str] = None) -> np.ndarray:
    """Draw a row-normalised confusion matrix (percent) with class names.

    Each cell holds its rounded percentage (cells under 0.5% stay empty,
    the diagonal is always written); a class without ground-truth pixels
    (a NaN row) is grey. The figure grows with the number of classes so
    that 19 Cityscapes classes stay readable.

    Args:
        percent: ``[C, C]`` rows: ground truth, columns: prediction, each
            row summing to 100 (NaN rows allowed).
        classes: the C class names.
        title: figure title.
        cmap: matplotlib colour map name.
        out_file: PNG to write (atomically), if given.

    Returns:
        np.ndarray: the picture, ``[H, W, 3]`` uint8 RGB.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    num = len(classes)
    side = max(6.0, 0.5 * num + 3.0)  # inches
    fig = Figure(figsize=(side + 1.2, side), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colors = matplotlib.colormaps[cmap].with_extremes(bad='lightgrey')
    norm = Normalize(vmin=0, vmax=100)
    masked = np.ma.masked_invalid(percent)
    image = ax.imshow(masked, cmap=colors, norm=norm,
                      interpolation='nearest')
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                 label='% of the ground-truth class')
    font = 10 if num <= 10 else 8 if num <= 20 else 6
    for row in range(num):
        for col in range(num):
            value = percent[row, col]
            if np.isnan(value) or (row != col and value < 0.5):
                continue
            r, g, b, _ = colors(norm(value))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(col, row, f'{value:.0f}', ha='center', va='center',
                    fontsize=font, color='white' if dark else 'black')
    ax.set_xticks(range(num))
    ax.set_yticks(range(num))
    ax.set_xticklabels(classes, rotation=45, ha='right',
                       rotation_mode='anchor', fontsize=font + 1)
    ax.set_yticklabels(classes, fontsize=font + 1)
    ax.set_xlabel('Prediction')
    ax.set_ylabel('Ground truth')
    ax.set_title(title)
    # Thin lines between the cells.
    ax.set_xticks(np.arange(num + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(num + 1) - 0.5, minor=True)
    ax.grid(which='minor', color='white', linewidth=0.5)
    ax.tick_params(which='minor', length=0)
    fig.tight_layout()
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()  # [H, W, 3]
    if out_file is not None:
        atomic_write_bytes(out_file, _png_bytes(fig))
    return rgb


def _png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    return buf.getvalue()
