"""Procedural 2.5-D face renderer: attributes -> image, label map, sketch (numpy only).

Every part is an implicit shape evaluated at pixel centres, painted back to front.
The colour image is evaluated on a ``supersample``-times finer grid and box-filtered
down (antialiased edges); the label map is evaluated on the output grid itself, so it
holds exact class indices (nearest sampling, no in-between values) that agree with the
image by construction.

Head model.  The head is a stack of circular horizontal sections whose radius ``R(y)``
follows a superellipse profile with a tapered jaw.  Face parts are shapes in *frontal
face coordinates* ``(u, v)`` (``u`` across, ``v`` down, image units at yaw 0).  A pixel
at horizontal offset ``x`` from the head axis sees the surface point at longitude
``psi = asin(x / R)`` in the camera frame, i.e. ``phi = psi - yaw`` on the head, whose
frontal coordinate is ``u = R sin(phi)``.  So under yaw, parts shift by the sine of
their longitude, foreshorten by the cosine, and parts past the silhouette disappear.
The nose and glasses use a larger radius (they stand out of the face), so they shift
more than the eyes.  Roll and scale jitter rotate and scale the whole face layer (head,
hair, ears, accessories) about the eye midpoint; neck and clothes stay upright.

Alignment (FFHQ-like, yaw 0, scale 1): eyes at rows ``EYE_ROW`` = 0.475, columns
0.5 -+ ``eyes.spacing`` (about 0.375 / 0.625); mouth near row 0.72.

Label convention: CelebAMask-HQ's 19 classes in the usual order (see :data:`CLASSES`),
the order of its ``g_mask.py`` list with 0 = background.  ``l_*`` / ``r_*`` are the
*subject's* left / right: ``l_eye`` is the eye on the image's right at yaw 0.  Beards are
labelled ``skin`` (CelebAMask-HQ has no beard class and includes facial hair in skin).
Eyes seen through glasses keep their eye labels (in CelebAMask-HQ's merged maps the eye
masks are painted over ``eye_g``); glasses frames and lenses elsewhere are ``eye_g``.
Hats are never drawn (class 14 stays unused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: CelebAMask-HQ classes; the index is the label value
CLASSES = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
           "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
LABEL = {name: index for index, name in enumerate(CLASSES)}
#: row of the eye centres (yaw 0, roll 0) and the pivot of roll and scale
EYE_ROW = 0.475
PIVOT = (0.5, EYE_ROW)

_SCLERA = np.array([236, 231, 226], np.float32)
_PUPIL = np.array([14, 11, 12], np.float32)
_LASH = np.array([30, 22, 22], np.float32)
_TEETH = np.array([238, 234, 222], np.float32)
_MOUTH = np.array([78, 26, 32], np.float32)
_WHITE = np.array([252, 252, 250], np.float32)


@dataclass
class Rendered:
    """One rendering: ``image`` ``[S, S, 3]``, ``label`` ``[S, S]`` (0..18) and
    ``sketch`` ``[S, S]`` (white 255, lines dark), all uint8; parts not asked are None."""

    image: np.ndarray
    label: np.ndarray | None = None
    sketch: np.ndarray | None = None


def _c(colour) -> np.ndarray:
    return np.asarray(colour, np.float32)


def _table(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``np.interp`` on the uniform grid ``xs`` in float32 (several times faster); ``x``
    outside the grid takes the end values."""
    n = len(xs) - 1
    pos = np.clip((np.asarray(x, np.float32) - np.float32(xs[0])) * np.float32(n / (xs[-1] - xs[0])), 0, n)
    i = np.minimum(pos.astype(np.intp), n - 1)
    table = ys.astype(np.float32)
    lo = np.take(table, i)
    return lo + (np.take(table, i + 1) - lo) * (pos - i)


class _Head:
    """Derived geometry of one face: head profile, pose and the projection."""

    def __init__(self, p: dict) -> None:
        pose, head = p["pose"], p["head"]
        self.yaw = math.radians(pose["yaw_deg"])
        roll = math.radians(pose["roll_deg"])
        self.cos_r, self.sin_r, self.scale = math.cos(roll), math.sin(roll), pose["scale"]
        self.a = head["half_width"]
        self.top, self.chin = head["top"], head["chin"]
        self.yc, self.hh = (self.top + self.chin) / 2, (self.chin - self.top) / 2
        self.volume = p["hair"]["volume"]
        ys = np.linspace(self.top, self.chin, 257)
        self.ys = ys
        self.radius = self._profile(ys, self.a, self.yc, self.hh, head["squareness"], head["jaw"])
        top_h = self.top - self.volume
        self.hair_ys = np.linspace(top_h, self.yc, 129)
        self.hair_radius = self._profile(self.hair_ys, self.a + self.volume, self.yc, self.yc - top_h,
                                         head["squareness"], 0.0)

    def _profile(self, ys, a, yc, hh, power, jaw) -> np.ndarray:
        t = np.clip(np.abs(ys - yc) / hh, 0, 1)
        r = a * (1 - t**power) ** (1 / power)
        s = np.clip((ys - 0.6) / (self.chin - 0.6), 0, 1)
        return r * (1 - jaw * s**2)

    def R(self, y):
        """Head radius at rows ``y`` (0 above the crown and below the chin)."""
        if np.ndim(y) == 0 or np.size(y) < 64:
            return np.interp(y, self.ys, self.radius, left=0.0, right=0.0)
        return _table(y, self.ys, self.radius)  # the profile ends at 0 (crown, chin)

    def R_hair(self, y):
        """Radius of the hair volume (the cranium plus ``volume``), rows above ``yc``."""
        return _table(y, self.hair_ys, self.hair_radius)  # 0 at the top, widest at yc

    def to_image(self, x, y):
        """Face coordinates -> image coordinates (roll and scale about the pivot)."""
        dx, dy = (np.asarray(x) - PIVOT[0]) * self.scale, (np.asarray(y) - PIVOT[1]) * self.scale
        return PIVOT[0] + self.cos_r * dx - self.sin_r * dy, PIVOT[1] + self.sin_r * dx + self.cos_r * dy

    def project(self, u, v, out: float = 0.0):
        """Frontal point ``(u, v)`` on a surface ``out`` in front of the head -> image
        ``(x, y, facing)``; ``facing = cos(psi) <= 0`` means hidden behind the head."""
        r = np.maximum(self.R(v) + out, 1e-6)
        phi = np.arcsin(np.clip(np.asarray(u) / r, -1, 1))
        psi = np.clip(phi + self.yaw, -math.pi / 2, math.pi / 2)
        x, y = self.to_image(0.5 + r * np.sin(psi), v)
        return x, y, np.cos(phi + self.yaw)


class _Canvas:
    """Label (always), colour and stroke layers on a ``res`` x ``res`` grid, plus the
    per-pixel face coordinates every face part shares (computed in the head window only)."""

    def __init__(self, head: _Head, res: int, colour: bool, strokes: bool) -> None:
        self.res = res
        centres = (np.arange(res, dtype=np.float32) + 0.5) / res
        self.X = np.broadcast_to(centres[None, :], (res, res))
        self.Y = np.broadcast_to(centres[:, None], (res, res))
        self.label = np.zeros((res, res), np.uint8)
        self.rgb = np.zeros((3, res, res), np.float32) if colour else None  # planar: fast ops
        self.stroke = np.zeros((res, res), bool) if strokes else None
        # face coordinates of every pixel (inverse roll and scale): affine in the pixel
        # column and row, so each is one broadcast sum of a row and a column vector
        h = head
        k = 1 / h.scale
        d = centres - np.float32(PIVOT[0]), centres - np.float32(PIVOT[1])
        cr, sr = np.float32(h.cos_r * k), np.float32(h.sin_r * k)
        self.fx = (d[0] * cr + np.float32(PIVOT[0]))[None, :] + (d[1] * sr)[:, None]
        self.fy = (d[1] * cr + np.float32(PIVOT[1]))[:, None] - (d[0] * sr)[None, :]
        self.hx = self.fx - np.float32(0.5)
        # head fields: radius, silhouette, camera longitude psi, head longitude phi and
        # the frontal coordinate u; computed in the head window (zero / False elsewhere)
        side = h.a + h.volume + 0.01
        xs, ys = h.to_image(np.array([0.5 - side, 0.5 + side, 0.5 - side, 0.5 + side]),
                            np.array([h.top - h.volume - 0.01] * 2 + [h.chin + 0.01] * 2))
        self.head_window = hw = self.window(xs.min(), xs.max(), ys.min(), ys.max())
        self.R = np.zeros((res, res), np.float32)
        self.inside = np.zeros((res, res), bool)
        self.psi = np.zeros((res, res), np.float32)
        self.phi = np.zeros((res, res), np.float32)
        self.u = np.zeros((res, res), np.float32)
        radius = self.R[hw]
        radius[:] = h.R(self.fy[hw])
        hx = self.hx[hw]
        np.less(np.abs(hx), radius, out=self.inside[hw])
        psi = self.psi[hw]
        np.divide(hx, np.maximum(radius, np.float32(1e-6)), out=psi)
        np.clip(psi, -1, 1, out=psi)
        np.arcsin(psi, out=psi)
        phi = self.phi[hw]
        np.subtract(psi, np.float32(h.yaw), out=phi)
        np.multiply(radius, np.sin(phi), out=self.u[hw])

    # --- painting -----------------------------------------------------------------
    def window(self, x0, x1, y0, y1, margin: int = 2) -> tuple[slice, slice]:
        """Pixel slices covering the image box ``[x0, x1] x [y0, y1]``."""
        r = self.res
        c0, c1 = int(max(0, math.floor(x0 * r) - margin)), int(min(r, math.ceil(x1 * r) + margin))
        r0, r1 = int(max(0, math.floor(y0 * r) - margin)), int(min(r, math.ceil(y1 * r) + margin))
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def face_window(self, head: _Head, u0, u1, v0, v1, out: float = 0.0) -> tuple[slice, slice]:
        """Pixel slices that cover the frontal box ``[u0, u1] x [v0, v1]`` in any pose."""
        uu, vv = np.meshgrid(np.linspace(u0, u1, 5), np.linspace(v0, v1, 5))
        x, y, _ = head.project(uu, vv, out)
        return self.window(x.min(), x.max(), y.min(), y.max(), margin=2 + int(0.01 * self.res))

    def paint(self, sl, mask, cls: int | None, colour=None, shade=None) -> None:
        """Set ``mask`` pixels of window ``sl`` to class ``cls`` and colour ``[3]``
        (times ``shade``, a scalar or a per-pixel array, if given)."""
        if cls is not None:
            np.copyto(self.label[sl], np.uint8(cls), where=mask)
        if self.rgb is not None and colour is not None:
            for c in range(3):
                value = np.float32(colour[c]) if shade is None else np.float32(colour[c]) * shade
                np.copyto(self.rgb[c][sl], value, where=mask)

    def blend(self, sl, mask, colour, alpha, shade=None) -> None:
        """Mix colour ``[3]`` (times ``shade``) into the image under ``mask`` by ``alpha``."""
        if self.rgb is None:
            return
        alpha = np.float32(alpha) if np.ndim(alpha) == 0 else alpha
        for c in range(3):
            region = self.rgb[c][sl]
            target = np.float32(colour[c]) if shade is None else np.float32(colour[c]) * shade
            np.copyto(region, region + (target - region) * alpha, where=mask)

    def line(self, sl, mask) -> None:
        if self.stroke is not None:
            self.stroke[sl] |= mask


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it."""
    edge = np.zeros_like(mask)
    edge[:, 1:] |= mask[:, 1:] & ~mask[:, :-1]
    edge[:, :-1] |= mask[:, :-1] & ~mask[:, 1:]
    edge[1:, :] |= mask[1:, :] & ~mask[:-1, :]
    edge[:-1, :] |= mask[:-1, :] & ~mask[1:, :]
    return edge


class _Painter:
    """Paints one face on a canvas, back to front."""

    def __init__(self, p: dict, head: _Head, cv: _Canvas, out_size: int) -> None:
        self.p, self.h, self.cv = p, head, cv
        light = p["light"]
        az, el = math.radians(light["azimuth_deg"]), math.radians(light["elevation_deg"])
        self.L = (math.cos(az) * math.sin(el), math.sin(az) * math.sin(el), math.cos(el))
        self.k = light["strength"]
        self.colour = cv.rgb is not None
        self.lw = 0.55 / out_size  # half-width of drawn lines: about one output pixel wide
        self.eye_masks: list[tuple[tuple[slice, slice], np.ndarray, int]] = []
        self.shade = self._head_shade() if self.colour else None

    # --- shading ------------------------------------------------------------------
    def _lambert(self, nx, ny, nz):
        lx, ly, lz = (np.float32(c) for c in self.L)
        d = np.clip(nx * lx + ny * ly + nz * lz, 0, 1)
        return np.float32(1 - self.k) + np.float32(self.k * 1.15) * d

    def _head_shade(self) -> np.ndarray:
        cv, h = self.cv, self.h
        hw = cv.head_window
        shade = np.ones((cv.res, cv.res), np.float32)
        ny = np.clip((cv.fy[hw] - np.float32(h.yc)) * np.float32(0.8 / h.hh), -0.9, 0.9)
        c = np.sqrt(1 - ny**2)
        psi = cv.psi[hw]
        shade[hw] = self._lambert(np.sin(psi) * c, ny, np.cos(psi) * c)
        return shade

    # --- layers -------------------------------------------------------------------
    def background(self) -> None:
        cv, bg = self.cv, self.p["background"]
        if not self.colour:
            return
        ang = math.radians(bg["angle_deg"])
        centres = cv.X[0] - np.float32(0.5)
        tx, ty = centres * np.float32(math.cos(ang) / 1.2), centres * np.float32(math.sin(ang) / 1.2)
        t = np.clip(ty[:, None] + tx[None, :] + np.float32(0.5), 0, 1)
        a, b = _c(bg["colour_a"]), _c(bg["colour_b"])
        for c in range(3):
            cv.rgb[c] = a[c] + (b[c] - a[c]) * t

    def hair_back(self) -> None:
        """Long hair hanging behind head, neck and shoulders."""
        cv, h, hair = self.cv, self.h, self.p["hair"]
        length = hair["length"]
        sl = (slice(0, cv.res), slice(0, cv.res))
        fx, fy = cv.fx, cv.fy
        cx = 0.5 - 0.25 * h.a * math.sin(h.yaw)
        width = np.where(fy < h.yc, h.R_hair(fy), (h.a + h.volume) * (1.04 + 0.5 * np.clip(fy - h.yc, 0, None)))
        end = np.clip((fy - (length - 0.07)) / 0.07, 0, 1)
        width = width * np.sqrt(1 - end**2)
        mask = (np.abs(fx - cx) < width) & (fy > h.top - h.volume) & (fy < length)
        shade = None
        if self.colour:
            shade = 0.72 * (1 + 0.13 * np.sin(hair["strand_freq"] * 1.6 * (fx - cx) + hair["strand_phase"] + 4 * fy))
        cv.paint(sl, mask, LABEL["hair"], hair["colour"], shade)

    def bun(self) -> None:
        cv, h, hair = self.cv, self.h, self.p["hair"]
        rb = hair["bun_radius"]
        cx = 0.5 - 0.55 * h.a * math.sin(h.yaw)
        cy = h.top - h.volume + 0.3 * rb
        x, y = h.to_image(cx, cy)
        sl = cv.window(x - rb * 1.2, x + rb * 1.2, y - rb * 1.2, y + rb * 1.2)
        d2 = ((cv.fx[sl] - cx) ** 2 + (cv.fy[sl] - cy) ** 2) / rb**2
        mask = d2 < 1
        swirl = np.sin(7 * np.arctan2(cv.fy[sl] - cy, cv.fx[sl] - cx) + 9 * np.sqrt(d2))
        cv.paint(sl, mask, LABEL["hair"], hair["colour"], (1 + 0.15 * swirl) * (1 - 0.3 * d2))
        cv.line(sl, mask & (np.abs(swirl) > 0.985))

    def neck(self) -> None:
        cv, h, nk = self.cv, self.h, self.p["neck"]
        nw = h.a * nk["width"]
        sl = cv.window(0.5 - nw, 0.5 + nw, h.chin - 0.15, 1.0)
        dx = cv.X[sl] - 0.5
        y = cv.Y[sl]
        mask = (np.abs(dx) < nw * (1 + 0.25 * np.clip((y - 0.88) / 0.12, 0, 1) ** 2)) & (y > h.chin - 0.15)
        shade = None
        if self.colour:
            nx = np.clip(dx / nw, -1, 1)
            shade = self._lambert(nx * 0.9, 0.0, np.sqrt(1 - nx**2 * 0.81))
            chin_y = h.to_image(0.5, h.chin)[1]
            shade = shade * (1 - nk["shadow"] * np.exp(-np.clip(y - chin_y + 0.01, 0, None) / 0.035))
            shade = shade * 0.93
        cv.paint(sl, mask, LABEL["neck"], _c(self.p["skin"]["colour"]), shade)

    def _neckline(self, dx, nw):
        cl, top = self.p["cloth"], self.p["cloth"]["top"]
        open_w = nw * 1.15
        q = np.clip(np.abs(dx) / open_w, 0, 1)
        if cl["collar"] == "round":
            return top + cl["depth"] * (1 - q**2) * 0.7
        if cl["collar"] in ("v", "shirt"):
            return top + cl["depth"] * 1.8 * (1 - q)
        return np.full_like(dx, self.h.chin + 0.035)  # turtleneck

    def cloth(self) -> None:
        cv, h, cl = self.cv, self.h, self.p["cloth"]
        nw = h.a * self.p["neck"]["width"]
        sw = cl["shoulder"]
        top = cl["top"] if cl["collar"] != "turtleneck" else h.chin + 0.035
        sl = cv.window(0.0, 1.0, min(top, cl["top"]) - 0.06, 1.0)
        dx, y = cv.X[sl] - 0.5, cv.Y[sl]
        adx = np.abs(dx)
        shoulder = (cl["top"] - 0.012 + 0.55 * np.clip(adx - nw * 1.1, 0, None) ** 2
                    + 3.0 * np.clip(adx - sw, 0, None) ** 2)
        inner = adx < nw * 1.15 if cl["collar"] != "turtleneck" else adx < nw * 1.08
        edge = np.where(inner, self._neckline(dx, nw), shoulder)
        mask = y > edge
        shade = None
        if self.colour:
            shade = self._lambert(np.clip(dx / (sw + 0.05), -1, 1) * 0.7, -0.35, 0.62)
            shade = shade * (1 + 0.05 * np.sin(dx * 60 + 3 * y))
        cv.paint(sl, mask, LABEL["cloth"], _c(cl["colour"]), shade)
        collar_colour = _c(cl["collar_colour"])
        if cl["collar"] == "shirt":
            v_edge = cl["top"] + cl["depth"] * 1.8 * (1 - np.clip(adx / (nw * 1.15), 0, 1))
            flap_low = v_edge + 0.035 - 0.6 * np.clip(adx - nw * 0.9, 0, None)
            flap = (y > v_edge - 0.006) & (y < flap_low) & (adx < nw * 1.6)
            cv.paint(sl, flap, LABEL["cloth"], collar_colour, shade)
            cv.line(sl, _outline(flap))
        elif cl["collar"] == "round":
            band = mask & (y < edge + 0.013) & inner
            cv.paint(sl, band, LABEL["cloth"], collar_colour, shade)
            cv.line(sl, _outline(band))
        elif cl["collar"] == "turtleneck":
            fold = mask & (np.abs(y - (cl["top"] - 0.01)) < 0.003) & inner
            cv.line(sl, fold)
            cv.blend(sl, fold, _c(cl["colour"]) * 0.5, 0.6)

    def necklace(self) -> None:
        cv, h, nl = self.cv, self.h, self.p["necklace"]
        nw = h.a * self.p["neck"]["width"]
        base = self.p["cloth"]["top"] - 0.045
        sl = cv.window(0.5 - nw * 1.1, 0.5 + nw * 1.1, base - 0.01, base + nl["drop"] + 0.02)
        dx, y = cv.X[sl] - 0.5, cv.Y[sl]
        curve = base + nl["drop"] * (1 - np.clip(np.abs(dx) / nw, 0, 1) ** 2)
        under = np.isin(cv.label[sl], (LABEL["neck"], LABEL["cloth"]))
        mask = (np.abs(y - curve) < 0.0045) & (np.abs(dx) < nw * 1.02) & under
        cv.paint(sl, mask, LABEL["neck_l"], nl["colour"], 0.78 + 0.22 * np.abs(np.sin(dx * 420)))

    def skin(self) -> None:
        cv, _h, sk = self.cv, self.h, self.p["skin"]
        sl = cv.head_window
        mask = cv.inside[sl]
        cv.paint(sl, mask, LABEL["skin"], sk["colour"], self.shade[sl] if self.colour else None)
        if self.colour and sk["blush"] > 0:
            u, v = cv.u[sl], cv.fy[sl]
            cheek = np.exp(-((np.abs(u) - 0.105) ** 2 + (v - 0.615) ** 2) * np.float32(1 / 0.0012))
            cv.blend(sl, mask, _c(sk["colour"]) * _c([1.08, 0.8, 0.8]), cheek * np.float32(sk["blush"]),
                     self.shade[sl])

    def ear(self, side: int, front: bool) -> None:
        """``side`` +1: the subject's left ear (image right at yaw 0)."""
        cv, h, e = self.cv, self.h, self.p["ears"]
        psi_e = side * math.pi / 2 + h.yaw
        facing = math.cos(psi_e)
        if (facing > 0.05) != front:
            return
        outward = 1.0 if math.sin(psi_e) >= 0 else -1.0
        hw = e["width"] * (0.55 + 0.9 * max(0.0, facing))
        eh = e["height"] / 2
        cx = 0.5 + (h.R(e["y"]) + 0.004) * math.sin(psi_e) + outward * hw * (0.5 - 0.9 * max(0.0, facing))
        cy = e["y"]
        x, y = h.to_image(cx, cy)
        sl = cv.window(x - hw * 1.5, x + hw * 1.5, y - eh * 1.4, y + eh * 1.4)
        dx, dy = cv.fx[sl] - cx, cv.fy[sl] - cy
        taper = 1 - 0.3 * np.clip(dy / eh, 0, 1)
        q = (dx / (hw * taper)) ** 2 + (dy / eh) ** 2
        mask = q < 1
        cls = LABEL["l_ear"] if side > 0 else LABEL["r_ear"]
        shade = None
        if self.colour:
            shade = self._lambert(outward * 0.8, 0.0, 0.6) * 0.92
        cv.paint(sl, mask, cls, _c(self.p["skin"]["colour"]), shade)
        inner = ((dx + outward * hw * 0.1) / (hw * taper * 0.55)) ** 2 + ((dy + eh * 0.1) / (eh * 0.6)) ** 2 < 1
        cv.blend(sl, inner & mask, _c(self.p["skin"]["colour"]) * 0.62, 0.7)
        cv.line(sl, _outline(inner & mask))
        er = self.p["earrings"]
        if er["present"]:
            r = er["radius"]
            ex, ey = cx - outward * hw * 0.1, cy + eh * 0.92 + r
            x2, y2 = h.to_image(ex, ey)
            ring_sl = cv.window(x2 - r * 1.2, x2 + r * 1.2, y2 - r * 1.2, y2 + r * 1.2)
            d = np.sqrt((cv.fx[ring_sl] - ex) ** 2 + (cv.fy[ring_sl] - ey) ** 2) / r
            cv.paint(ring_sl, d < 1, LABEL["ear_r"], er["colour"], 1.1 - 0.45 * d)

    def beard(self) -> None:
        cv, h, b = self.cv, self.h, self.p["beard"]
        nose, mouth, ears = self.p["nose"], self.p["mouth"], self.p["ears"]
        v0 = nose["bottom"] + 0.01
        sl = cv.face_window(h, -h.a, h.a, v0 - 0.08, h.chin)
        u, v = cv.u[sl], cv.fy[sl]
        q = np.abs(u) / h.a
        front = cv.inside[sl] & (np.cos(cv.phi[sl]) > 0)
        if b["style"] == "goatee":
            mw, my = mouth["half_width"], mouth["y"]
            narrowing = 0.35 * np.clip((my - v) / (my - v0), 0, 1)
            moustache = (v > v0) & (v < my + 0.01) & (np.abs(u) < mw * (1.08 - narrowing))
            chin = (u / (mw * 0.8)) ** 2 + ((v - (my + 0.07)) / 0.075) ** 2 < 1
            mask = front & (moustache | chin)
        else:
            top = np.interp(q, [0, 0.3, 0.55, 0.85, 1.0],
                            [v0, mouth["y"] - 0.01, mouth["y"] - 0.025, ears["y"] - 0.01, ears["y"] - 0.03])
            mask = front & (v > top)
        alpha = b["density"] * (0.35 if b["style"] == "stubble" else 0.92)
        if self.colour:
            tex = 1 + 0.18 * np.sin(u * 700) * np.sin(v * 650 + 1.3)
            cv.blend(sl, mask, b["colour"], alpha, self.shade[sl] * tex)
        if b["style"] != "stubble":
            cv.line(sl, _outline(mask))

    def nose(self) -> None:
        cv, h, n = self.cv, self.h, self.p["nose"]
        top, bottom, width = n["top"], n["bottom"], n["width"]
        sl = cv.face_window(h, -width * 1.3, width * 1.3, top - 0.01, bottom + 0.012, out=n["depth"])
        v = cv.fy[sl]
        w = np.clip((v - top) / (bottom - top), 0, 1)
        rn = cv.R[sl] + n["depth"] * w**1.3
        arg = cv.hx[sl] / np.maximum(rn, 1e-6)
        phi = np.arcsin(np.clip(arg, -1, 1)) - h.yaw
        un = rn * np.sin(phi)
        hw = n["bridge"] + (width - n["bridge"]) * w**2.4
        low = bottom - 0.007 * (un / width) ** 2 + 0.004 * np.exp(-((un / width) / 0.35) ** 2)
        mask = (np.abs(arg) < 1) & (np.cos(phi) > 0) & (v > top) & (v < low) & (np.abs(un) < hw)
        shade = None
        if self.colour:
            side = np.clip(un / np.maximum(hw, 1e-6), -1, 1)
            psi = np.arcsin(np.clip(side * 0.85, -1, 1)) + h.yaw
            shade = self._lambert(np.sin(psi) * 0.9, 0.15 + 0.3 * w, np.cos(psi) * 0.9)
            shade = shade * (1 + 0.08 * np.exp(-((un / width) ** 2 + ((v - bottom + 0.012) / 0.012) ** 2) * 3))
        cv.paint(sl, mask, LABEL["nose"], _c(self.p["skin"]["colour"]), shade)
        # nostrils and alae
        for s in (-1, 1):
            nost = ((un - s * width * 0.42) / (width * 0.28)) ** 2 + ((v - bottom + 0.006) / 0.0045) ** 2 < 1
            cv.blend(sl, nost & mask, _c(self.p["skin"]["colour"]) * 0.32, 0.9)
            cv.line(sl, _outline(nost & mask))
            r = np.sqrt((un - s * width * 0.68) ** 2 + (v - bottom + 0.011) ** 2)
            ala = mask & (np.abs(r - 0.012) < self.lw * 0.6 + 0.0012) & (v < bottom - 0.006)
            cv.line(sl, ala)
            cv.blend(sl, ala, _c(self.p["skin"]["colour"]) * 0.7, 0.45)

    def mouth(self) -> None:
        cv, h, m = self.cv, self.h, self.p["mouth"]
        mw, my = m["half_width"], m["y"]
        sl = cv.face_window(h, -mw * 1.1, mw * 1.1, my - 0.04, my + 0.05)
        u, v = cv.u[sl], cv.fy[sl]
        d = u / mw
        k = np.clip(1 - d**2, 0, 1)
        line = my - m["smile"] * d**2 + m["smile"] * 0.3
        gap = m["gap"] * k**0.6
        top_m, bot_m = line - 0.45 * gap, line + 0.55 * gap
        upper = m["upper"] * k**0.5 * (1 - 0.3 * np.exp(-(d / 0.13) ** 2))
        lower = m["lower"] * k**0.55
        ok = (np.abs(d) < 1) & cv.inside[sl] & (np.cos(cv.phi[sl]) > 0)
        u_lip = ok & (v > top_m - upper) & (v <= top_m)
        l_lip = ok & (v > bot_m) & (v < bot_m + lower)
        lip = _c(self.p["skin"]["lip_colour"])
        shade = self.shade[sl] if self.colour else None
        cv.paint(sl, u_lip, LABEL["u_lip"], lip * 0.9, shade)
        lower_shade = None
        if self.colour:
            lower_shade = shade * (1 + 0.12 * np.exp(-(((v - bot_m - lower * 0.45) / (lower * 0.35 + 1e-6)) ** 2)))
        cv.paint(sl, l_lip, LABEL["l_lip"], lip, lower_shade)
        if m["open"]:
            inner = ok & (v > top_m) & (v <= bot_m)
            teeth = inner & (v < top_m + m["teeth"] * gap)
            cv.paint(sl, inner, LABEL["mouth"], _MOUTH, shade)
            cv.paint(sl, teeth, None, _TEETH, shade)
            cv.line(sl, _outline(teeth))
        else:
            seam = ok & (np.abs(v - line) < self.lw + 0.0008)
            cv.blend(sl, seam, lip * 0.45, 0.8)
            cv.line(sl, seam)

    def eye(self, side: int) -> None:
        cv, h, e = self.cv, self.h, self.p["eyes"]
        eu, ew, op = side * e["spacing"], e["half_width"], e["opening"]
        sl = cv.face_window(h, eu - ew * 1.1, eu + ew * 1.1, EYE_ROW - op * 2.6, EYE_ROW + op * 1.2)
        u, v = cv.u[sl], cv.fy[sl]
        d = (u - eu) / ew
        out = d * side
        k = np.clip(1 - d**2, 0, 1)
        yc = EYE_ROW - e["tilt"] * out
        top = yc - op * k**0.75 * (1 + 0.12 * out)
        bot = yc + 0.7 * op * k**0.9
        ok = cv.inside[sl] & (np.cos(cv.phi[sl]) > 0.08)
        lash = 0.0035
        eye = ok & (np.abs(d) < 1) & (v > top - lash * k**0.5) & (v < bot)
        cls = LABEL["l_eye"] if side > 0 else LABEL["r_eye"]
        self.eye_masks.append((sl, eye, cls))
        # the crease above the eye (skin only)
        crease = ok & (np.abs(d) < 0.85) & (np.abs(v - (yc - op * 1.9 * k**0.6)) < self.lw * 0.7 + 0.0006)
        cv.blend(sl, crease & (cv.label[sl] == LABEL["skin"]), _c(self.p["skin"]["colour"]) * 0.72, 0.5)
        cv.line(sl, crease)
        shade = self.shade[sl] if self.colour else None
        cv.paint(sl, eye, cls, _SCLERA, shade)
        ic_u = eu + e["gaze"] * ew * 0.35
        ic_v = yc + 0.08 * op
        ri = e["iris_ratio"] * ew
        r = np.sqrt((u - ic_u) ** 2 + (v - ic_v) ** 2) / ri
        iris = eye & (r < 1) & (v > top)
        if self.colour:
            cv.paint(sl, iris, None, e["iris_colour"], 1.1 - 0.5 * r**2)
            cv.paint(sl, iris & (r < 0.42), None, _PUPIL)
            hl_r = np.sqrt((u - ic_u + 0.3 * ri) ** 2 + (v - ic_v + 0.3 * ri) ** 2) / ri
            cv.paint(sl, iris & (hl_r < 0.2), None, _WHITE)
            lashes = eye & (v <= top + 0.0012)
            cv.paint(sl, lashes, None, _LASH)
        cv.line(sl, _outline(iris) | (iris & (r < 0.42)))

    def brow(self, side: int) -> None:
        cv, h, b = self.cv, self.h, self.p["brows"]
        e = self.p["eyes"]
        bu, bl = side * (e["spacing"] + 0.006), b["length"]
        bv = EYE_ROW - b["gap"]
        sl = cv.face_window(h, bu - bl * 1.1, bu + bl * 1.1, bv - b["arch"] - b["thickness"] - 0.01,
                            bv + b["thickness"] + 0.01)
        u, v = cv.u[sl], cv.fy[sl]
        d = (u - bu) / bl
        out = d * side
        centre = bv - b["arch"] * (1 - d**2) - b["tilt"] * out
        th = b["thickness"] * (1 - 0.55 * ((out + 1) / 2) ** 2) * np.clip(1 - d**2, 0, 1) ** 0.12
        mask = cv.inside[sl] & (np.cos(cv.phi[sl]) > 0.08) & (np.abs(d) < 1) & (np.abs(v - centre) < th / 2)
        shade = self.shade[sl] * (1 + 0.15 * np.sin(u * 900 + v * 300)) if self.colour else None
        cv.paint(sl, mask, LABEL["l_brow"] if side > 0 else LABEL["r_brow"], b["colour"], shade)

    def _hairline(self, phi, u) -> np.ndarray:
        """Lowest row of hair at each head longitude ``phi`` (radians)."""
        hair, ears = self.p["hair"], self.p["ears"]
        a = np.abs(phi)
        temple = math.radians(52)
        ear_top = ears["y"] - ears["height"] / 2
        style = hair["style"]
        front = hair["hairline"] - hair["recede"] * np.clip(a / temple, 0, 1) ** 2
        if style == "fringe":
            jag = 0.006 * np.sin(u * 95 + hair["strand_phase"])
            slope = 0.045 * (u / self.h.a) if hair["side_fringe"] else 0.0
            front = hair["fringe"] + slope + jag
        nape = hair["length"] if style == "long" else 0.62
        side_low = hair["length"] if style == "long" else ear_top + 0.035
        ends = np.clip((a - temple) / (math.radians(80) - temple), 0, 1)
        side = side_low + (nape - side_low) * np.clip((a - math.radians(92)) / math.radians(12), 0, 1)
        return front * (1 - ends) + side * ends

    def hair_cap(self) -> None:
        """Hair on the head (and its volume around it): all inside the head window."""
        cv, h, hair = self.cv, self.h, self.p["hair"]
        style = hair["style"]
        sl = cv.head_window
        if style != "long":  # nothing below the nape: skip those rows
            lowest = max(0.62, self.p["ears"]["y"]) + 0.01
            x, y = h.to_image(np.array([0.5 - h.a - h.volume, 0.5 + h.a + h.volume]), np.array([lowest, lowest]))
            bottom = min(sl[0].stop, int(math.ceil(float(y.max()) * cv.res)) + 2)
            sl = (slice(sl[0].start, max(sl[0].start, bottom)), sl[1])
        fy, hx = cv.fy[sl], cv.hx[sl]
        inside = cv.inside[sl]
        phi = cv.phi[sl]
        ear_top = self.p["ears"]["y"] - self.p["ears"]["height"] / 2
        rh = h.R_hair(fy).astype(np.float32)
        if style == "bald":
            if not hair["horseshoe"]:
                return
            mask = inside & (np.abs(phi) > math.radians(78)) & (fy > hair["hairline"] + 0.06) & (fy < 0.6)
        else:
            mask = inside & (fy < self._hairline(phi, cv.u[sl]))
            # the volume around the head thins out towards its lower end
            low = h.yc if style == "long" else ear_top - 0.005
            taper = np.clip((low - fy) * np.float32(1 / 0.06), 0, 1)
            radius = cv.R[sl]
            volume = radius + (rh - radius) * np.sqrt(taper)
            mask |= ~inside & (np.abs(hx) < volume) & (fy < low) & (fy > h.top - h.volume)
        if not self.colour and cv.stroke is None:
            cv.paint(sl, mask, LABEL["hair"])
            return
        psi_h = np.arcsin(np.clip(hx / np.maximum(rh, np.float32(1e-6)), -1, 1))
        lon = psi_h - np.float32(h.yaw)
        phase = np.float32(hair["strand_freq"]) * lon + 6 * fy + np.float32(hair["strand_phase"])
        phase += np.float32(1.6) * np.sin(np.float32(hair["strand_freq"] * 0.21) * lon + 13 * fy)  # wavy strands
        sin_phase = np.sin(phase)
        shade = None
        if self.colour:
            ny = np.clip((fy - np.float32(h.yc)) * np.float32(0.8 / h.hh), -0.9, 0.9)
            c = np.sqrt(1 - ny**2)
            cos_h = np.cos(psi_h)
            shade = self._lambert(np.sin(psi_h) * c, ny, cos_h * c)
            band = (fy - np.float32(h.top + 0.05)) * np.float32(1 / 0.035)
            sheen = 1 + np.float32(0.22) * np.exp(-(band**2)) * cos_h
            shade = shade * sheen * (1 + np.float32(0.13) * sin_phase)
        cv.paint(sl, mask, LABEL["hair"], hair["colour"], shade)
        cv.line(sl, mask & (sin_phase > 0.97) & (np.sin(phase * np.float32(0.37) + 20 * fy) > 0.2))

    def glasses(self) -> None:
        cv, h, g = self.cv, self.h, self.p["glasses"]
        e = self.p["eyes"]
        out = 0.025
        lw_ = e["half_width"] * 1.05 * g["size"]
        lh = lw_ * 0.78
        gv = EYE_ROW + 0.004
        sl = cv.face_window(h, -h.a, h.a, gv - lh * 1.4, gv + lh * 1.4, out=out)
        hx, v = cv.hx[sl], cv.fy[sl]
        rg = cv.R[sl] + out
        arg = hx / np.maximum(rg, 1e-6)
        phi = np.arcsin(np.clip(arg, -1, 1)) - h.yaw
        ug = rg * np.sin(phi)
        vis = (np.abs(arg) < 1) & (np.cos(phi) > 0)
        n = 2.0 if g["shape"] == "round" else 4.0
        f = g["frame"]
        ring = np.zeros(v.shape, bool)
        lens = np.zeros(v.shape, bool)
        for s in (-1, 1):
            q = np.abs((ug - s * e["spacing"]) / lw_) ** n + np.abs((v - gv) / lh) ** n
            ring |= vis & (q < (1 + f / lw_) ** n) & (q > (1 - f / lw_) ** n)
            lens |= vis & (q <= (1 - f / lw_) ** n)
        bridge = vis & (np.abs(ug) < e["spacing"] - lw_ * 0.9) & (np.abs(v - (gv - lh * 0.3)) < f * 0.7)
        arms = (vis & (np.abs(ug) > e["spacing"] + lw_) & (np.abs(v - (gv - lh * 0.4)) < f * 0.6)
                & (np.abs(phi) < math.radians(93)))
        frame = ring | bridge | arms
        cv.label[sl][lens] = LABEL["eye_g"]
        if self.colour:
            reflect = 0.12 + 0.25 * (np.sin((ug + v) * 90) > 0.6)
            cv.blend(sl, lens, _c(g["lens_colour"]), np.float32(g["tint"]) + reflect * 0.5)
        fshade = self.shade[sl] if self.colour else None
        cv.paint(sl, frame, LABEL["eye_g"], _c(g["frame_colour"]), fshade)
        # eyes seen through the lenses keep their labels (CelebAMask-HQ paints eyes over eye_g)
        for esl, eye, cls in self.eye_masks:
            keep = eye & (cv.label[esl] == LABEL["eye_g"]) & ~_slice_mask(frame, sl, esl)
            cv.label[esl][keep] = cls


def _slice_mask(mask: np.ndarray, sl, sub) -> np.ndarray:
    """``mask`` (defined on window ``sl``) cut to window ``sub`` (False outside ``sl``)."""
    out = np.zeros((sub[0].stop - sub[0].start, sub[1].stop - sub[1].start), bool)
    r0, r1 = max(sl[0].start, sub[0].start), min(sl[0].stop, sub[0].stop)
    c0, c1 = max(sl[1].start, sub[1].start), min(sl[1].stop, sub[1].stop)
    if r0 < r1 and c0 < c1:
        out[r0 - sub[0].start:r1 - sub[0].start, c0 - sub[1].start:c1 - sub[1].start] = \
            mask[r0 - sl[0].start:r1 - sl[0].start, c0 - sl[1].start:c1 - sl[1].start]
    return out


def _draw(params: dict, res: int, colour: bool, strokes: bool, out_size: int | None = None) -> _Canvas:
    head = _Head(params)
    cv = _Canvas(head, res, colour, strokes)
    pt = _Painter(params, head, cv, out_size or res)
    style = params["hair"]["style"]
    pt.background()
    if style == "long":
        pt.hair_back()
    if style == "bun":
        pt.bun()
    for side in (-1, 1):
        pt.ear(side, front=False)
    pt.neck()
    pt.cloth()
    if params["necklace"]["present"]:
        pt.necklace()
    pt.skin()
    if params["beard"]["present"]:
        pt.beard()
    pt.nose()
    pt.mouth()
    for side in (-1, 1):
        pt.eye(side)
        pt.brow(side)
    if style == "long":
        for side in (-1, 1):
            pt.ear(side, front=True)
        pt.hair_cap()
    else:
        pt.hair_cap()
        for side in (-1, 1):
            pt.ear(side, front=True)
    if params["glasses"]["present"]:
        pt.glasses()
    return cv


def _downsample(a: np.ndarray, factor: int) -> np.ndarray:
    """Box filter over ``factor`` x ``factor`` blocks of the last two axes."""
    if factor == 1:
        return a
    total = None
    for i in range(factor):
        for j in range(factor):
            part = a[..., i::factor, j::factor]
            total = part.astype(np.float32) if total is None else total + part
    return total * np.float32(1 / factor**2)


def render(params: dict, size: int, supersample: int = 2, label: bool = True, sketch: bool = True) -> Rendered:
    """Render ``params`` (see :mod:`p2s.synthfaces.params`) at ``size`` x ``size``.

    The image is drawn at ``size * supersample`` and box-filtered down; the label map
    is evaluated at ``size`` (exact classes); the sketch is the boundaries of the fine
    label map plus feature strokes, box-filtered down (black lines on white).
    """
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    fine = _draw(params, size * supersample, colour=True, strokes=sketch, out_size=size)
    image = np.clip(np.rint(_downsample(fine.rgb, supersample)), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    image = np.ascontiguousarray(image)
    out = Rendered(image=image)
    if label:
        out.label = _draw(params, size, colour=False, strokes=False, out_size=size).label
    if sketch:
        lab = fine.label
        edge = fine.stroke.copy()
        edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
        edge[1:, :] |= lab[1:, :] != lab[:-1, :]
        for _ in range(supersample // 2 - 1):  # about half an output pixel thick at any factor
            grown = edge.copy()
            grown[:, 1:] |= edge[:, :-1]
            grown[1:, :] |= edge[:-1, :]
            edge = grown
        dark = _downsample(edge, supersample)
        out.sketch = np.clip(np.rint(255 * (1 - np.clip(dark * 1.8, 0, 1))), 0, 255).astype(np.uint8)
    return out


def landmarks(params: dict, size: int) -> dict[str, list[float]]:
    """Pixel positions ``[x, y]`` of eye centres, nose tip and mouth corners/centre."""
    h = _Head(params)
    e, n, m = params["eyes"], params["nose"], params["mouth"]
    points = {
        "l_eye": (e["spacing"], EYE_ROW, 0.0), "r_eye": (-e["spacing"], EYE_ROW, 0.0),
        "nose_tip": (0.0, n["bottom"] - 0.01, n["depth"]), "mouth": (0.0, m["y"], 0.0),
        "mouth_l": (m["half_width"], m["y"] - m["smile"] * 0.7, 0.0),
        "mouth_r": (-m["half_width"], m["y"] - m["smile"] * 0.7, 0.0),
    }
    out = {}
    for name, (u, v, depth) in points.items():
        x, y, _ = h.project(u, v, depth)
        out[name] = [round(float(x) * size, 3), round(float(y) * size, 3)]
    return out
