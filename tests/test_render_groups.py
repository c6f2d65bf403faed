"""The offline renderer draws the groups a plan asks for: synaug.generators.render."""

import numpy as np

from synaug.data import load_dataset
from synaug.generators.render import RenderGenerator

from helpers import plan_for


def test_renderer_draws_the_requested_tint_and_background():
    s = load_dataset("mnist-fair")
    items, _ = plan_for(s.train, dataset="mnist-fair")
    gen = RenderGenerator(image_shape=(28, 28, 3))
    for it in [next(i for i in items if i.group_name == g) for g in ("red", "green", "blue")]:
        rgb = np.asarray(gen.render(it), dtype=float).reshape(-1, 3).sum(0)
        assert np.argmax(rgb) == ["red", "green", "blue"].index(it.group_name)
    sp = load_dataset("fashion-spurious")
    items, _ = plan_for(sp.train, dataset="fashion-spurious")
    gen = RenderGenerator(image_shape=(28, 28, 1))
    grass = [np.asarray(gen.render(i), dtype=float) for i in items if i.group_name == "grass"][:20]
    brick = [np.asarray(gen.render(i), dtype=float) for i in items if i.group_name == "brick"][:20]
    border = lambda im: np.concatenate([im[0], im[-1], im[:, 0], im[:, -1]])  # noqa: E731
    assert min(border(im).mean() for im in grass) > 20  # a textured background, not black
    assert np.mean([border(im).mean() for im in grass]) > np.mean([border(im).mean() for im in brick])
    classes_only = RenderGenerator(image_shape=(28, 28, 3), unspecified_groups=["red", "blue"])
    it = plan_for(s.train, dataset="mnist-fair", use_groups=False)[0][0]
    out = classes_only.generate([it])[0]
    assert out.extra["drawn_group"] in ("red", "blue")
