"""Random face attributes: one JSON-friendly dict per sample.

Every value is a plain ``float``, ``int``, ``bool``, ``str`` or list of them, so an
attributes file round-trips through JSON exactly and renders to the same bytes.  Lengths
are in image units (the image side is 1.0, ``y`` grows downwards); angles in degrees;
colours are ``[r, g, b]`` integers in 0..255.

The dict has one entry per part (``pose``, ``head``, ``skin``, ``hair``, ``eyes``,
``brows``, ``nose``, ``mouth``, ``ears``, ``neck``, ``cloth``, ``glasses``, ``beard``,
``earrings``, ``necklace``, ``background``, ``light``).  ``pose`` is the only part that
is not identity: :func:`frontal_params` sets its yaw and roll to 0.
"""

from __future__ import annotations

import copy

import numpy as np

HAIR_STYLES = ("short", "long", "bun", "bald", "fringe")
HAIR_STYLE_PROBS = (0.3, 0.27, 0.1, 0.1, 0.23)
COLLARS = ("round", "v", "shirt", "turtleneck")
BEARD_STYLES = ("full", "goatee", "stubble")
GLASSES_SHAPES = ("round", "rect")

#: light-to-dark skin tones; a sample interpolates between neighbours
SKIN_TONES = ((255, 224, 205), (241, 198, 168), (224, 172, 135), (198, 140, 100), (160, 106, 70),
              (118, 76, 50), (86, 56, 38))
#: natural hair colours (and one slot for a dyed colour)
HAIR_COLOURS = {"black": (24, 20, 20), "dark_brown": (55, 38, 28), "brown": (105, 70, 42),
                "blonde": (205, 172, 112), "red": (150, 66, 32), "grey": (150, 148, 146),
                "white": (222, 220, 214), "dyed": None}
HAIR_COLOUR_PROBS = (0.26, 0.24, 0.17, 0.12, 0.06, 0.06, 0.04, 0.05)
IRIS_COLOURS = {"brown": (96, 58, 30), "dark_brown": (52, 32, 20), "blue": (70, 120, 170),
                "green": (80, 120, 70), "hazel": (130, 100, 50), "grey": (120, 130, 135)}
IRIS_COLOUR_PROBS = (0.35, 0.25, 0.15, 0.08, 0.1, 0.07)


def _rgb(values) -> list[int]:
    return [int(np.clip(round(float(v)), 0, 255)) for v in values]


def _hsv(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> list[int]:
    """A random colour of saturation in ``s`` and value in ``v``."""
    import colorsys

    rgb = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*s), rng.uniform(*v))
    return _rgb(np.asarray(rgb) * 255)


def _jitter(rng: np.random.Generator, colour, amount: float) -> list[int]:
    return _rgb(np.asarray(colour, float) + rng.normal(0, amount, 3))


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def sample_params(rng: np.random.Generator) -> dict:
    """Draw one face.  The draws happen in a fixed order, so a given generator state
    always gives the same face (the dataset uses ``default_rng([seed, index])``)."""
    # --- pose: mostly near-frontal (as FFHQ), a third anywhere in +-40 degrees
    yaw = rng.normal(0, 14) if rng.uniform() < 0.65 else rng.uniform(-40, 40)
    pose = dict(yaw_deg=float(np.clip(yaw, -40, 40)), roll_deg=float(np.clip(rng.normal(0, 3), -8, 8)),
                scale=_u(rng, 0.94, 1.06))

    # --- head and skin
    head = dict(half_width=_u(rng, 0.225, 0.262), top=_u(rng, 0.10, 0.15), chin=_u(rng, 0.835, 0.885),
                squareness=_u(rng, 2.0, 2.7), jaw=_u(rng, 0.0, 0.3))
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    low = int(np.floor(tone))
    high = min(low + 1, len(SKIN_TONES) - 1)
    frac = tone - low
    base = (1 - frac) * np.asarray(SKIN_TONES[low], float) + frac * np.asarray(SKIN_TONES[high], float)
    skin_colour = _rgb(base * rng.uniform(0.95, 1.05) + rng.normal(0, 2.5, 3))
    lip_colour = _rgb(np.asarray(skin_colour) * np.array([0.86, 0.62, 0.62]) + rng.normal(0, 6, 3) + [18, 0, 4])
    skin = dict(tone=float(tone), colour=skin_colour, lip_colour=lip_colour, blush=_u(rng, 0.0, 0.25))

    # --- hair
    style = str(rng.choice(HAIR_STYLES, p=HAIR_STYLE_PROBS))
    colour_name = str(rng.choice(list(HAIR_COLOURS), p=HAIR_COLOUR_PROBS))
    dyed = _hsv(rng, (0.5, 0.9), (0.4, 0.9))
    natural = HAIR_COLOURS[colour_name]
    hair_colour = dyed if natural is None else _jitter(rng, natural, 8)
    hair = dict(style=style, colour_name=colour_name, colour=hair_colour,
                hairline=_u(rng, 0.205, 0.27), recede=_u(rng, 0.0, 0.04), volume=_u(rng, 0.012, 0.05),
                length=_u(rng, 0.78, 1.02), fringe=_u(rng, 0.3, 0.37), bun_radius=_u(rng, 0.055, 0.08),
                side_fringe=bool(rng.uniform() < 0.5), horseshoe=bool(rng.uniform() < 0.6),
                strand_phase=_u(rng, 0, 6.283), strand_freq=_u(rng, 30, 55))

    # --- eyes and brows (left/right are the subject's; positions are for the left one,
    # mirrored for the right one)
    iris_name = str(rng.choice(list(IRIS_COLOURS), p=IRIS_COLOUR_PROBS))
    eyes = dict(spacing=_u(rng, 0.118, 0.133), half_width=_u(rng, 0.046, 0.057),
                opening=_u(rng, 0.015, 0.024), tilt=_u(rng, -0.004, 0.008),
                iris_ratio=_u(rng, 0.38, 0.48), iris_name=iris_name,
                iris_colour=_jitter(rng, IRIS_COLOURS[iris_name], 10), gaze=_u(rng, -0.25, 0.25))
    # brows and beards keep a natural colour under dyed hair
    natural_colour = hair_colour if natural is not None else _jitter(rng, HAIR_COLOURS["dark_brown"], 8)
    brow_colour = _rgb(np.asarray(natural_colour) * (0.75 if colour_name not in ("blonde", "white", "grey") else 0.6))
    brows = dict(gap=_u(rng, 0.036, 0.052), thickness=_u(rng, 0.009, 0.019), arch=_u(rng, 0.0, 0.014),
                 length=_u(rng, 0.048, 0.062), tilt=_u(rng, -0.006, 0.008), colour=brow_colour)

    # --- nose, mouth, ears
    nose = dict(top=_u(rng, 0.5, 0.53), bottom=_u(rng, 0.6, 0.64), bridge=_u(rng, 0.012, 0.018),
                width=_u(rng, 0.038, 0.052), depth=_u(rng, 0.03, 0.06))
    mouth_open = bool(rng.uniform() < 0.35)
    mouth = dict(y=_u(rng, 0.705, 0.735), half_width=_u(rng, 0.068, 0.092), smile=_u(rng, -0.004, 0.018),
                 open=mouth_open, gap=_u(rng, 0.012, 0.032) if mouth_open else 0.0,
                 upper=_u(rng, 0.01, 0.018), lower=_u(rng, 0.012, 0.022), teeth=_u(rng, 0.35, 0.7))
    ears = dict(y=_u(rng, 0.5, 0.54), height=_u(rng, 0.1, 0.13), width=_u(rng, 0.028, 0.042))

    # --- neck and clothes
    neck = dict(width=_u(rng, 0.56, 0.7), shadow=_u(rng, 0.2, 0.45))
    collar = str(rng.choice(COLLARS))
    light_collar = rng.uniform() < 0.6
    cloth = dict(colour=_hsv(rng, (0.05, 0.8), (0.12, 0.9)), collar=collar,
                 collar_colour=_hsv(rng, (0.0, 0.3), (0.75, 1.0)) if light_collar else _hsv(rng, (0.05, 0.8), (0.1, 0.9)),
                 top=_u(rng, 0.9, 0.96), shoulder=_u(rng, 0.4, 0.5), depth=_u(rng, 0.03, 0.08))

    # --- accessories
    has_glasses = bool(rng.uniform() < 0.25)
    glasses = dict(present=has_glasses, shape=str(rng.choice(GLASSES_SHAPES)),
                   frame_colour=_hsv(rng, (0.0, 0.6), (0.05, 0.6)), frame=_u(rng, 0.004, 0.008),
                   size=_u(rng, 1.0, 1.25), tint=_u(rng, 0.05, 0.35), lens_colour=_hsv(rng, (0.0, 0.4), (0.5, 1.0)))
    # beards mostly with short or bald hair
    beard_prob = 0.3 if style in ("short", "bald") else 0.04
    has_beard = bool(rng.uniform() < beard_prob)
    beard = dict(present=has_beard, style=str(rng.choice(BEARD_STYLES)), density=_u(rng, 0.6, 1.0),
                 colour=_rgb(np.asarray(natural_colour) * 0.9))
    earrings = dict(present=bool(rng.uniform() < 0.15), colour=_rgb(rng.choice([[212, 175, 55], [192, 192, 200]])),
                    radius=_u(rng, 0.006, 0.012))
    necklace = dict(present=bool(rng.uniform() < 0.1), colour=_rgb(rng.choice([[212, 175, 55], [192, 192, 200]])),
                    drop=_u(rng, 0.03, 0.07))

    # --- background and light
    background = dict(colour_a=_hsv(rng, (0.0, 0.5), (0.25, 0.95)), colour_b=_hsv(rng, (0.0, 0.5), (0.25, 0.95)),
                      angle_deg=_u(rng, 0, 360))
    light = dict(azimuth_deg=_u(rng, 0, 360), elevation_deg=_u(rng, 20, 60), strength=_u(rng, 0.25, 0.6))
    return dict(pose=pose, head=head, skin=skin, hair=hair, eyes=eyes, brows=brows, nose=nose, mouth=mouth,
                ears=ears, neck=neck, cloth=cloth, glasses=glasses, beard=beard, earrings=earrings,
                necklace=necklace, background=background, light=light)


def frontal_params(params: dict) -> dict:
    """The same identity and attributes at yaw 0 and roll 0 (scale kept)."""
    frontal = copy.deepcopy(params)
    frontal["pose"]["yaw_deg"] = 0.0
    frontal["pose"]["roll_deg"] = 0.0
    return frontal
