"""Textures of the demo scenes: colours per pixel, reproducible."""
import numpy as np

from emanet.datasets import demo_textures as textures

YS = np.array([0, 100, 200, 255])
XS = np.array([0, 128, 256, 511])


def test_every_texture_colours_each_pixel_reproducibly():
    made = {
        'sky': lambda r: textures.sky(r),
        'building': lambda r: textures.building(r),
        'road': lambda r: textures.road(r, 256.0, 110.0),
        'sidewalk': lambda r: textures.sidewalk(r),
        'vegetation': lambda r: textures.vegetation(r),
        'pole': lambda r: textures.pole(r),
        'traffic light': lambda r: textures.traffic_light(r, 10, 10, 4),
        'person': lambda r: textures.person(r, 120.0, 150.0),
        'car': lambda r: textures.car(r, 130.0, 160.0),
        'flat': lambda r: textures.flat((20, 205, 230), 7, 0.12, r),
    }
    for name, make in made.items():
        first = make(np.random.default_rng(0))(np.random.default_rng(1),
                                                YS, XS)
        again = make(np.random.default_rng(0))(np.random.default_rng(1),
                                                YS, XS)
        assert first.shape == (len(YS), 3), name
        assert np.isfinite(first).all(), name
        np.testing.assert_array_equal(first, again)


def test_flat_colour_is_its_colour_plus_noise():
    tex = textures.flat((20, 205, 230), 0, 0, np.random.default_rng(0))
    colours = tex(np.random.default_rng(0), YS, XS)
    np.testing.assert_allclose(colours, [[20, 205, 230]] * len(YS))
