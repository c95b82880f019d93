"""The kinds of stored experiment that probe the input space around attacks (chapter 07): lines
and planes through the pixels of the most confident one-pixel DE attacks, and the colour cube at
each image's most vulnerable pixel. Stored like every experiment, so that the book only reads them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from onepixel.engine.probes import colour_cube, pixel_lines, pixel_planes
from onepixel.nets.models import model_and_data
from onepixel.study.experiments import Kind, register
from onepixel.study.jobs import Job


class ProbeKind(Kind):
    """A probe of the input space through the pixel of each of the ``n`` most confident successful
    attacks of a one-pixel DE job (``fooled_by``), drawn in chapter 07; its rows are the probe's
    values, read when the book is built, so that the book computes nothing."""

    def check(self, params, fooled_by):
        if fooled_by is None or fooled_by.kind != "de" or fooled_by.settings.pixels != 1:
            raise ValueError(f"a {self.name} probe goes through the pixels of a one-pixel DE job (fooled_by), "
                             f"got {fooled_by!r}")
        steps = params.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"{self.name} steps must be an integer >= 2, got {steps!r}")
        return params

    def folder(self, job):
        return f"{self.name}-{job.parameters['steps']}"

    def identity(self, job, source):
        return {**super().identity(job, source), "source": source(job.fooled_by), "steps": job.parameters["steps"],
                "seed": job.seed}

    def select(self, job, source):
        ok = source[source.success].sort_values(["adv_prob", "image"], ascending=[False, True])
        return sorted(ok.image.head(job.n).tolist())

    def covers(self, job):
        return f" (top {job.n} of {job.fooled_by.model} {job.fooled_by.size})"

    def chunk_size(self, job):
        return 1

    def payload(self, job, images, read):  # image -> its attack: label, confidence, pixel and colour
        rows = read(job.fooled_by, 0)
        return {int(r.image): {"label": int(r.label), "adv_prob": float(r.adv_prob), "x": int(r.x), "y": int(r.y),
                               "rgb": (int(r.r), int(r.g), int(r.b))} for r in rows[rows.image.isin(images)].itertuples()}

    def rows(self, job, images, payload, device):
        model, data = model_and_data(job.model)
        frames = [self.probe(model, data.images[image].float() / 255, image, payload[image], job, device)
                  .assign(image=image, label=payload[image]["label"], adv_prob=payload[image]["adv_prob"])
                  for image in images]
        return [pd.concat(frames, ignore_index=True).assign(model=job.model)]

    def probe(self, model, image: torch.Tensor, image_id: int, attack: dict, job: Job, device: str) -> pd.DataFrame:
        raise NotImplementedError


@register
class LinesKind(ProbeKind):
    """Class probabilities along each colour channel (and the grey axis) of the attacked pixel, and
    of a random pixel of the same image (drawn from the job's seed and the image)."""

    name = "lines"
    row_key = ("image", "where", "channel", "value")

    def probe(self, model, image, image_id, attack, job, device):
        h, w = image.shape[1:]
        rng = np.random.default_rng([job.seed, image_id])
        at_random = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        attacked = pixel_lines(model, image, attack["x"], attack["y"], job.parameters["steps"], device)
        attacked["attack"] = attacked.channel.map(dict(zip("rgb", attack["rgb"])))
        return pd.concat([attacked.assign(where="DE pixel", x=attack["x"], y=attack["y"]),
                          pixel_lines(model, image, *at_random, job.parameters["steps"], device)
                          .assign(where="random pixel", x=at_random[0], y=at_random[1], attack=np.nan)],
                         ignore_index=True).round(5)


@register
class PlanesKind(ProbeKind):
    """Predicted class over two planes through the attacked pixel (:func:`onepixel.engine.probes.pixel_planes`)."""

    name = "planes"
    row_key = ("image", "plane", "first", "second")

    def probe(self, model, image, image_id, attack, job, device):  # the DE's colour marked on the one-pixel plane
        planes = pixel_planes(model, image, attack["x"], attack["y"], job.parameters["steps"], device)
        one = planes.plane == "one pixel"
        return planes.assign(attack_first=np.where(one, attack["rgb"][0], np.nan),
                             attack_second=np.where(one, attack["rgb"][1], np.nan))


@register
class CubeKind(Kind):
    """Every colour of a ``levels``^3 grid at one pixel of each image: does any colour flip the class,
    does any corner. The pixel is the image's most vulnerable one by the exhaustive corner search of
    the same sample, or, with ``fooled_by`` a one-pixel DE job, the pixel of each successful DE attack
    (chosen without looking at corners, so that the corners are tested independently of the choice)."""

    name = "cube"

    def check(self, params, fooled_by):
        if fooled_by is not None and (fooled_by.kind != "de" or fooled_by.settings.pixels != 1):
            raise ValueError(f"a cube probe at attacked pixels needs a one-pixel DE job (fooled_by), got {fooled_by!r}")
        return params

    def folder(self, job):
        return f"cube-{job.parameters['levels']}" + ("-de-pixel" if job.fooled_by is not None else "")

    def inputs(self, job):
        return () if job.fooled_by is not None else (Job.make("exhaustive", job.model, job.n, seed=job.seed, levels=2),)

    def identity(self, job, source):
        return {**super().identity(job, source), "levels": job.parameters["levels"], "sample_seed": job.seed,
                **({"source": source(job.fooled_by)} if job.fooled_by is not None else {})}

    def payload(self, job, images, read):  # image -> (label, x, y) of the pixel to probe
        if job.fooled_by is not None:
            rows = read(job.fooled_by, 0)
            return {int(r.image): (int(r.label), int(r.x), int(r.y)) for r in rows[rows.image.isin(images)].itertuples()}
        maps = read(self.inputs(job)[0], 1)
        best = maps.loc[maps[maps.image.isin(images)].groupby("image").best_other_prob.idxmax()]
        return {int(r.image): (int(r.label), int(r.x), int(r.y)) for r in best.itertuples()}

    def rows(self, job, images, payload, device):
        model, data = model_and_data(job.model)
        rows = []
        for image in images:
            label, x, y = payload[image]
            cube = colour_cube(model, data.images[image].float() / 255, label, x, y, job.parameters["levels"], device)
            corners = cube[cube.corner]
            rows.append({"image": image, "label": label, "x": x, "y": y, "grid_flips": bool(cube.flips.any()),
                         "corner_flips": bool(corners.flips.any()), "grid_flip_fraction": float(cube.flips.mean()),
                         "grid_min_true_prob": float(cube.true_prob.min()),
                         "corner_min_true_prob": float(corners.true_prob.min())})
        return [pd.DataFrame(rows)]
