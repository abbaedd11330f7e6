"""Procedural street scenes with Cityscapes labels, for the demo data set.

Scenes are drawn from polygons with real Cityscapes labels (sky, building,
road, sidewalk, terrain, vegetation, pole, traffic sign / light, car,
person, and void "ego vehicle" / "out of roi"). Each class has its own
colour and texture, varied per object (position, size, count, brightness)
and noised, so a small network learns it on a CPU in minutes. Label ids
are the polygons rasterised exactly as ``cityscapesscripts`` does. The
same seed always gives the same scene.
"""
from typing import Callable, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .cityscapes_labels import NAME_TO_LABEL

HEIGHT, WIDTH = 256, 512

Polygon = List[Tuple[int, int]]
# Texture: (rng, ys, xs) of the object's pixels -> [N, 3] BGR float colours.
Texture = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]


class _Scene:
    """Ordered polygons (later ones on top) with one texture each."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.objects: List[Tuple[str, Polygon, Texture]] = []

    def add(self, label: str, points, texture: Texture) -> None:
        poly = [(min(max(int(round(x)), 0), WIDTH - 1),
                 min(max(int(round(y)), 0), HEIGHT - 1)) for x, y in points]
        self.objects.append((label, poly, texture))


# -- textures --------------------------------------------------------------
def _noise(r: np.random.Generator, n: int, sigma: float,
           channels: int = 3) -> np.ndarray:
    """``[n, channels]`` float32 Gaussian noise."""
    return r.standard_normal((n, channels), dtype=np.float32) * sigma


def _flat(color, noise: float, jitter: float, rng) -> Texture:
    base = np.asarray(color, np.float32) * rng.uniform(1 - jitter, 1 + jitter)

    def tex(r, ys, xs):
        return base + _noise(r, len(ys), noise, 3)
    return tex


def _sky(rng) -> Texture:
    top = np.array([200, 140, 80], np.float32) * rng.uniform(0.9, 1.1)
    low = np.array([235, 205, 170], np.float32) * rng.uniform(0.93, 1.05)

    def tex(r, ys, xs):
        t = (ys / HEIGHT * 2.2).clip(0, 1)[:, None]
        return top * (1 - t) + low * t + _noise(r, len(ys), 3, 3)
    return tex


def _building(rng) -> Texture:
    gray = rng.uniform(85, 140)
    base = np.array([gray, gray * rng.uniform(1.0, 1.08),
                     gray * rng.uniform(1.02, 1.15)], np.float32)
    window = np.array([70, 55, 45], np.float32) * rng.uniform(0.7, 1.2)
    px, py = rng.integers(14, 24), rng.integers(16, 26)
    wx, wy = px * rng.uniform(0.4, 0.6), py * rng.uniform(0.4, 0.6)
    ox, oy = rng.integers(0, 10), rng.integers(0, 10)

    def tex(r, ys, xs):
        win = ((xs + ox) % px < wx) & ((ys + oy) % py < wy)
        out = np.where(win[:, None], window, base)
        return out + _noise(r, len(ys), 5, 3)
    return tex


def _road(rng, vanish_x: float, horizon: float) -> Texture:
    base = np.array([95, 85, 92], np.float32) * rng.uniform(0.85, 1.15)
    dash = rng.integers(14, 24)

    def tex(r, ys, xs):
        # Dashed centre line converging to the vanishing point.
        depth = (ys - horizon).clip(1, None)
        half = 1 + depth * 0.02
        line = (np.abs(xs - vanish_x) < half) & ((ys // dash) % 2 == 0)
        out = np.where(line[:, None], np.float32(215), base)
        return out + _noise(r, len(ys), 6, 3)
    return tex


def _sidewalk(rng) -> Texture:
    base = np.array([170, 160, 190], np.float32) * rng.uniform(0.88, 1.1)
    tile = rng.integers(8, 14)

    def tex(r, ys, xs):
        grout = (xs % tile == 0) | (ys % tile == 0)
        out = np.where(grout[:, None], base * 0.8, base)
        return out + _noise(r, len(ys), 4, 3)
    return tex


def _vegetation(rng) -> Texture:
    base = np.array([40, 125, 55], np.float32) * rng.uniform(0.75, 1.2)

    def tex(r, ys, xs):
        leaf = _noise(r, len(ys), 22, 1)  # strong, green-biased speckle
        return base + leaf * np.array([0.5, 1.0, 0.6], np.float32)
    return tex


def _pole(rng) -> Texture:
    base = np.array([165, 155, 145], np.float32) * rng.uniform(0.85, 1.1)

    def tex(r, ys, xs):
        shade = 1 - 0.25 * ((xs % 3) == 0)
        return base * shade[:, None] + _noise(r, len(ys), 4, 3)
    return tex


def _traffic_light(rng, cx: float, cy: float, radius: float) -> Texture:
    lamp = [(40, 40, 230), (60, 230, 60), (40, 180, 240)][rng.integers(3)]
    lamp = np.asarray(lamp, np.float32)

    def tex(r, ys, xs):
        on = (ys - cy)**2 + (xs - cx)**2 < radius**2
        out = np.where(on[:, None], lamp, np.float32(28))
        return out + _noise(r, len(ys), 4, 3)
    return tex


def _person(rng, neck_y: float, hip_y: float) -> Texture:
    shirt = np.array([60, 30, 200], np.float32) * rng.uniform(0.7, 1.1)
    legs = np.array([110, 60, 40], np.float32) * rng.uniform(0.7, 1.2)
    skin = np.array([140, 170, 215], np.float32)

    def tex(r, ys, xs):
        out = np.where((ys < neck_y)[:, None], skin,
                       np.where((ys < hip_y)[:, None], shirt, legs))
        return out + _noise(r, len(ys), 6, 3)
    return tex


def _car(rng, body_top: float, wheel_y: float) -> Texture:
    body = np.array([150, 45, 15], np.float32) * rng.uniform(0.6, 1.2)
    glass = np.array([75, 60, 50], np.float32)

    def tex(r, ys, xs):
        out = np.where((ys < body_top)[:, None], glass, body)
        out = np.where((ys > wheel_y)[:, None], np.float32(20), out)
        return out + _noise(r, len(ys), 5, 3)
    return tex


# -- scene layout ----------------------------------------------------------
def _make_scene(rng: np.random.Generator) -> _Scene:
    s = _Scene(rng)
    W, H = WIDTH, HEIGHT
    horizon = rng.uniform(95, 125)
    vx = W / 2 + rng.uniform(-50, 50)
    s.add('sky', [(0, 0), (W - 1, 0), (W - 1, horizon), (0, horizon)],
          _sky(rng))
    # Sidewalk everywhere below the horizon, the road on top of it.
    s.add('sidewalk', [(0, horizon), (W - 1, horizon), (W - 1, H - 1),
                       (0, H - 1)], _sidewalk(rng))
    left, right = rng.uniform(-260, -40), rng.uniform(W + 40, W + 260)
    s.add('road', [(vx - 6, horizon), (vx + 6, horizon), (right, H - 1),
                   (left, H - 1)], _road(rng, vx, horizon))

    def road_half_width(y):
        return 6 + (y - horizon) / (H - horizon) * (right - left) / 2

    # Buildings along the horizon, with gaps showing the sky.
    x = rng.uniform(-20, 10)
    while x < W:
        w = rng.uniform(45, 130)
        if rng.random() < 0.85:
            top = rng.uniform(15, horizon - 25)
            base = horizon + rng.uniform(4, 14)
            s.add('building', [(x, top), (x + w, top), (x + w, base),
                               (x, base)], _building(rng))
        x += w + rng.uniform(0, 25)
    # Terrain strips on the sidewalks.
    for side in (-1, 1):
        if rng.random() < 0.6:
            y0 = rng.uniform(horizon + 20, H - 60)
            y1 = y0 + rng.uniform(25, 55)
            x_edge = vx + side * (road_half_width(y1) + 8)
            x_out = 0 if side < 0 else W - 1
            s.add('terrain', [(x_out, y0), (x_edge, y0), (x_edge, y1),
                              (x_out, y1)],
                  _flat((110, 190, 160), 8, 0.1, rng))
    # Trees: trunk and crown are both vegetation.
    for _ in range(rng.integers(1, 4)):
        cx = rng.choice([rng.uniform(10, vx - 90), rng.uniform(vx + 90,
                                                                W - 10)])
        ground = rng.uniform(horizon + 15, horizon + 60)
        r = rng.uniform(22, 48)
        cy = ground - r * rng.uniform(1.5, 2.2)
        n = 14
        crown = [(cx + r * rng.uniform(0.8, 1.15) * np.cos(a),
                  cy + r * rng.uniform(0.8, 1.15) * np.sin(a))
                 for a in np.linspace(0, 2 * np.pi, n, endpoint=False)]
        tex = _vegetation(rng)
        s.add('vegetation', [(cx - 4, cy), (cx + 4, cy), (cx + 4, ground),
                             (cx - 4, ground)], tex)
        s.add('vegetation', crown, tex)
    # Poles, with a sign or a light on most of them.
    for _ in range(rng.integers(1, 4)):
        side = rng.choice([-1, 1])
        base = rng.uniform(horizon + 25, H - 40)
        px = vx + side * (road_half_width(base) + rng.uniform(6, 30))
        if not 8 < px < W - 8:
            continue
        pw = rng.uniform(5, 9)
        top = base - rng.uniform(90, 150)
        s.add('pole', [(px - pw / 2, top), (px + pw / 2, top),
                       (px + pw / 2, base), (px - pw / 2, base)], _pole(rng))
        kind = rng.random()
        if kind < 0.45:
            size = rng.uniform(16, 28)
            sy = top + rng.uniform(0, 15)
            if rng.random() < 0.5:
                sign = [(px - size / 2, sy), (px + size / 2, sy),
                        (px + size / 2, sy + size), (px - size / 2, sy + size)]
            else:
                sign = [(px, sy), (px + size / 2, sy + size),
                        (px - size / 2, sy + size)]
            s.add('traffic sign', sign, _flat((20, 205, 230), 7, 0.12, rng))
        elif kind < 0.8:
            lw, lh = rng.uniform(12, 17), rng.uniform(30, 42)
            ly = top + rng.uniform(0, 10)
            lamp_y = ly + lh * (0.2 + 0.6 * rng.integers(2))
            s.add('traffic light', [(px - lw / 2, ly), (px + lw / 2, ly),
                                    (px + lw / 2, ly + lh),
                                    (px - lw / 2, ly + lh)],
                  _traffic_light(rng, px, lamp_y, lw * 0.32))
    # Cars on the road, far ones first so near ones cover them.
    cars = sorted(rng.uniform(horizon + 20, H - 20, rng.integers(1, 5)))
    for bottom in cars:
        scale = (bottom - horizon) / (H - horizon)
        w = 40 + 110 * scale * rng.uniform(0.8, 1.2)
        h = w * rng.uniform(0.5, 0.62)
        cx = vx + rng.uniform(-0.8, 0.8) * road_half_width(bottom)
        x0, x1, y1 = cx - w / 2, cx + w / 2, bottom
        roof, belt = y1 - h, y1 - h * 0.55
        s.add('car', [(x0, y1), (x0, belt), (x0 + w * 0.2, roof),
                      (x1 - w * 0.2, roof), (x1, belt), (x1, y1)],
              _car(rng, belt, y1 - h * 0.15))
    # People on the sidewalks.
    for _ in range(rng.integers(1, 5)):
        side = rng.choice([-1, 1])
        feet = rng.uniform(horizon + 35, H - 25)
        scale = 0.5 + (feet - horizon) / (H - horizon)
        ph = rng.uniform(45, 65) * scale
        pw = ph * rng.uniform(0.3, 0.38)
        px = vx + side * (road_half_width(feet) + rng.uniform(10, 45))
        if not pw < px < W - pw:
            continue
        head, neck, hip = feet - ph, feet - ph * 0.82, feet - ph * 0.45
        hw = pw * 0.28
        s.add('person', [(px - hw, head), (px + hw, head),
                         (px + hw, neck), (px + pw / 2, neck + 3),
                         (px + pw / 2, hip), (px + pw * 0.3, feet),
                         (px - pw * 0.3, feet), (px - pw / 2, hip),
                         (px - pw / 2, neck + 3), (px - hw, neck)],
              _person(rng, neck, hip))
    # Void: the ego vehicle's bonnet and out-of-roi corners.
    hood = rng.uniform(10, 22)
    s.add('ego vehicle', [(0, H - 1), (0, H - hood * 0.4),
                          (W * 0.25, H - hood * 0.9), (W * 0.5, H - hood),
                          (W * 0.75, H - hood * 0.9), (W - 1, H - hood * 0.4),
                          (W - 1, H - 1)], _flat((22, 20, 25), 4, 0.2, rng))
    c = rng.uniform(6, 16)
    s.add('out of roi', [(0, H - 1), (0, H - c), (c, H - 1)],
          _flat((5, 5, 5), 2, 0, rng))
    s.add('out of roi', [(W - 1, H - 1), (W - 1, H - c), (W - 1 - c, H - 1)],
          _flat((5, 5, 5), 2, 0, rng))
    return s


def render_scene(seed_seq) -> Tuple[np.ndarray, np.ndarray, np.ndarray,
                                    dict]:
    """Draw one scene.

    Args:
        seed_seq: seed (anything ``numpy.random.default_rng`` takes).

    Returns:
        ``image`` (``[H, W, 3]`` uint8 BGR), ``label_ids`` (``[H, W]``
        uint8), ``instance_ids`` (``[H, W]`` uint16, ``id * 1000 + k`` for
        cars and people) and the polygon annotation dict.
    """
    rng = np.random.default_rng(seed_seq)
    scene = _make_scene(rng)
    # Object index map: rasterise as cityscapesscripts' json2labelImg does.
    canvas = Image.new('I', (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(canvas)
    for k, (_, poly, _) in enumerate(scene.objects, start=1):
        draw.polygon(poly, fill=k)
    index = np.asarray(canvas, dtype=np.int32)  # [H, W]

    n = len(scene.objects) + 1
    label_lut = np.zeros(n, np.uint8)  # 0 = unlabeled
    inst_lut = np.zeros(n, np.uint16)
    counters: dict = {}
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    for k, (name, poly, texture) in enumerate(scene.objects, start=1):
        label = NAME_TO_LABEL[name]
        label_lut[k] = label.id
        if label.has_instances:
            counters[name] = counters.get(name, -1) + 1
            inst_lut[k] = label.id * 1000 + counters[name]
        else:
            inst_lut[k] = label.id
        # Search the polygon's bounding box only: much faster.
        (x0, y0), (x1, y1) = np.min(poly, 0), np.max(poly, 0)
        ys, xs = np.nonzero(index[y0:y1 + 1, x0:x1 + 1] == k)
        ys, xs = ys + y0, xs + x0
        if len(ys):
            image[ys, xs] = texture(rng, ys, xs)
    image *= rng.uniform(0.8, 1.15)  # global exposure
    image += rng.standard_normal(image.shape, dtype=np.float32) * 3
    image = np.clip(image, 0, 255).astype(np.uint8)
    annotation = dict(
        imgHeight=HEIGHT,
        imgWidth=WIDTH,
        objects=[
            dict(label=name, polygon=[list(p) for p in poly])
            for name, poly, _ in scene.objects
        ])
    return image, label_lut[index], inst_lut[index], annotation
