"""Procedural street scenes with Cityscapes labels, for the demo data set.

Scenes are drawn from polygons with real Cityscapes labels (sky, building,
road, sidewalk, terrain, vegetation, pole, traffic sign / light, car,
person, and void "ego vehicle" / "out of roi"). Each class has its own
colour and texture, varied per object (position, size, count, brightness)
and noised, so a small network learns it on a CPU in minutes. Label ids
are the polygons rasterised exactly as ``cityscapesscripts`` does. The
same seed always gives the same scene.
"""
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw

from . import demo_textures as textures
from .cityscapes_labels import NAME_TO_LABEL
from .demo_textures import HEIGHT, WIDTH, Texture

Polygon = List[Tuple[int, int]]


class _Scene:
    """Ordered polygons (later ones on top) with one texture each."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.objects: List[Tuple[str, Polygon, Texture]] = []

    def add(self, label: str, points, texture: Texture) -> None:
        poly = [(min(max(int(round(x)), 0), WIDTH - 1),
                 min(max(int(round(y)), 0), HEIGHT - 1)) for x, y in points]
        self.objects.append((label, poly, texture))


# -- scene layout ----------------------------------------------------------
def _make_scene(rng: np.random.Generator) -> _Scene:
    s = _Scene(rng)
    W, H = WIDTH, HEIGHT
    horizon = rng.uniform(95, 125)
    vx = W / 2 + rng.uniform(-50, 50)
    s.add('sky', [(0, 0), (W - 1, 0), (W - 1, horizon), (0, horizon)],
          textures.sky(rng))
    # Sidewalk everywhere below the horizon, the road on top of it.
    s.add('sidewalk', [(0, horizon), (W - 1, horizon), (W - 1, H - 1),
                       (0, H - 1)], textures.sidewalk(rng))
    left, right = rng.uniform(-260, -40), rng.uniform(W + 40, W + 260)
    s.add('road', [(vx - 6, horizon), (vx + 6, horizon), (right, H - 1),
                   (left, H - 1)], textures.road(rng, vx, horizon))

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
                               (x, base)], textures.building(rng))
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
                  textures.flat((110, 190, 160), 8, 0.1, rng))
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
        tex = textures.vegetation(rng)
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
                       (px + pw / 2, base), (px - pw / 2, base)],
              textures.pole(rng))
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
            s.add('traffic sign', sign,
                  textures.flat((20, 205, 230), 7, 0.12, rng))
        elif kind < 0.8:
            lw, lh = rng.uniform(12, 17), rng.uniform(30, 42)
            ly = top + rng.uniform(0, 10)
            lamp_y = ly + lh * (0.2 + 0.6 * rng.integers(2))
            s.add('traffic light', [(px - lw / 2, ly), (px + lw / 2, ly),
                                    (px + lw / 2, ly + lh),
                                    (px - lw / 2, ly + lh)],
                  textures.traffic_light(rng, px, lamp_y, lw * 0.32))
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
              textures.car(rng, belt, y1 - h * 0.15))
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
              textures.person(rng, neck, hip))
    # Void: the ego vehicle's bonnet and out-of-roi corners.
    hood = rng.uniform(10, 22)
    s.add('ego vehicle', [(0, H - 1), (0, H - hood * 0.4),
                          (W * 0.25, H - hood * 0.9), (W * 0.5, H - hood),
                          (W * 0.75, H - hood * 0.9), (W - 1, H - hood * 0.4),
                          (W - 1, H - 1)],
          textures.flat((22, 20, 25), 4, 0.2, rng))
    c = rng.uniform(6, 16)
    s.add('out of roi', [(0, H - 1), (0, H - c), (c, H - 1)],
          textures.flat((5, 5, 5), 2, 0, rng))
    s.add('out of roi', [(W - 1, H - 1), (W - 1, H - c), (W - 1 - c, H - 1)],
          textures.flat((5, 5, 5), 2, 0, rng))
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
