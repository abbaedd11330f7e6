"""Textures of the demo scenes: each class's colours, varied and noised.

A texture maps ``(rng, ys, xs)`` of an object's pixels to their ``[N, 3]``
BGR float colours; :mod:`.demo_scenes` draws the objects with them.
"""
from typing import Callable

import numpy as np

# The demo images' size.
HEIGHT, WIDTH = 256, 512
# Texture: (rng, ys, xs) of the object's pixels -> [N, 3] BGR float colours.
Texture = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]


def pixel_noise(r: np.random.Generator, n: int, sigma: float,
           channels: int = 3) -> np.ndarray:
    """``[n, channels]`` float32 Gaussian noise."""
    return r.standard_normal((n, channels), dtype=np.float32) * sigma


def flat(color, noise: float, jitter: float, rng) -> Texture:
    base = np.asarray(color, np.float32) * rng.uniform(1 - jitter, 1 + jitter)

    def tex(r, ys, xs):
        return base + pixel_noise(r, len(ys), noise, 3)
    return tex


def sky(rng) -> Texture:
    top = np.array([200, 140, 80], np.float32) * rng.uniform(0.9, 1.1)
    low = np.array([235, 205, 170], np.float32) * rng.uniform(0.93, 1.05)

    def tex(r, ys, xs):
        t = (ys / HEIGHT * 2.2).clip(0, 1)[:, None]
        return top * (1 - t) + low * t + pixel_noise(r, len(ys), 3, 3)
    return tex


def building(rng) -> Texture:
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
        return out + pixel_noise(r, len(ys), 5, 3)
    return tex


def road(rng, vanish_x: float, horizon: float) -> Texture:
    base = np.array([95, 85, 92], np.float32) * rng.uniform(0.85, 1.15)
    dash = rng.integers(14, 24)

    def tex(r, ys, xs):
        # Dashed centre line converging to the vanishing point.
        depth = (ys - horizon).clip(1, None)
        half = 1 + depth * 0.02
        line = (np.abs(xs - vanish_x) < half) & ((ys // dash) % 2 == 0)
        out = np.where(line[:, None], np.float32(215), base)
        return out + pixel_noise(r, len(ys), 6, 3)
    return tex


def sidewalk(rng) -> Texture:
    base = np.array([170, 160, 190], np.float32) * rng.uniform(0.88, 1.1)
    tile = rng.integers(8, 14)

    def tex(r, ys, xs):
        grout = (xs % tile == 0) | (ys % tile == 0)
        out = np.where(grout[:, None], base * 0.8, base)
        return out + pixel_noise(r, len(ys), 4, 3)
    return tex


def vegetation(rng) -> Texture:
    base = np.array([40, 125, 55], np.float32) * rng.uniform(0.75, 1.2)

    def tex(r, ys, xs):
        leaf = pixel_noise(r, len(ys), 22, 1)  # strong, green-biased speckle
        return base + leaf * np.array([0.5, 1.0, 0.6], np.float32)
    return tex


def pole(rng) -> Texture:
    base = np.array([165, 155, 145], np.float32) * rng.uniform(0.85, 1.1)

    def tex(r, ys, xs):
        shade = 1 - 0.25 * ((xs % 3) == 0)
        return base * shade[:, None] + pixel_noise(r, len(ys), 4, 3)
    return tex


def traffic_light(rng, cx: float, cy: float, radius: float) -> Texture:
    lamp = [(40, 40, 230), (60, 230, 60), (40, 180, 240)][rng.integers(3)]
    lamp = np.asarray(lamp, np.float32)

    def tex(r, ys, xs):
        on = (ys - cy)**2 + (xs - cx)**2 < radius**2
        out = np.where(on[:, None], lamp, np.float32(28))
        return out + pixel_noise(r, len(ys), 4, 3)
    return tex


def person(rng, neck_y: float, hip_y: float) -> Texture:
    shirt = np.array([60, 30, 200], np.float32) * rng.uniform(0.7, 1.1)
    legs = np.array([110, 60, 40], np.float32) * rng.uniform(0.7, 1.2)
    skin = np.array([140, 170, 215], np.float32)

    def tex(r, ys, xs):
        out = np.where((ys < neck_y)[:, None], skin,
                       np.where((ys < hip_y)[:, None], shirt, legs))
        return out + pixel_noise(r, len(ys), 6, 3)
    return tex


def car(rng, body_top: float, wheel_y: float) -> Texture:
    body = np.array([150, 45, 15], np.float32) * rng.uniform(0.6, 1.2)
    glass = np.array([75, 60, 50], np.float32)

    def tex(r, ys, xs):
        out = np.where((ys < body_top)[:, None], glass, body)
        out = np.where((ys > wheel_y)[:, None], np.float32(20), out)
        return out + pixel_noise(r, len(ys), 5, 3)
    return tex
