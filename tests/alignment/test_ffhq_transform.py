"""The FFHQ alignment transform on synthetic landmarks and images (pure numpy / PIL)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from p2s.alignment import aligned_points, align_face, ffhq_quad, quad_to_output_affine, to_five_landmarks
from p2s.utils.errors import P2SError

#: an upright face: eyes 80 px apart, mouth 80 px below the eyes
CANONICAL = np.array([[160.0, 180.0], [240.0, 180.0], [200.0, 220.0], [170.0, 260.0], [230.0, 260.0]])
DOT_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255)]
GREY = (128, 128, 128)


def similarity(points: np.ndarray, angle_deg: float, scale: float, shift) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return scale * points @ rot.T + np.asarray(shift, dtype=np.float64)


def dots_image(points: np.ndarray, size=(400, 400), radius: float = 5.0) -> Image.Image:
    image = Image.new("RGB", size, GREY)
    draw = ImageDraw.Draw(image)
    for (x, y), colour in zip(points, DOT_COLOURS):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return image


def dot_centres(image: Image.Image) -> np.ndarray:
    """Centroid of the pixels close to each dot colour (NaN if the dot vanished)."""
    pixels = np.asarray(image, dtype=np.float64)
    centres = []
    for colour in DOT_COLOURS:
        close = np.abs(pixels - np.array(colour)).sum(axis=-1) < 120
        rows, cols = np.nonzero(close)
        centres.append([cols.mean(), rows.mean()] if rows.size else [np.nan, np.nan])
    return np.array(centres)


# --- the quad ------------------------------------------------------------------------
def test_quad_of_an_upright_face_by_hand():
    # eye_avg (200,180), eye_to_eye (80,0), eye_to_mouth (0,80): x = (80,0) - (-80,0) -> (1,0)
    # scaled by max(2*80, 1.8*80) = 160; y = (0,160); c = (200, 188)
    expected = np.array([[40.0, 28.0], [40.0, 348.0], [360.0, 348.0], [360.0, 28.0]])
    np.testing.assert_allclose(ffhq_quad(CANONICAL), expected, atol=1e-9)


def test_quad_uses_the_larger_of_eye_distance_and_eye_mouth_distance():
    long_face = CANONICAL.copy()
    long_face[3:, 1] += 100  # mouth 180 px below the eyes: 1.8 * 180 = 324 > 2 * 80
    quad = ffhq_quad(long_face)
    assert math.hypot(*(quad[3] - quad[0])) == pytest.approx(2 * 324)
    assert math.hypot(*(quad[1] - quad[0])) == pytest.approx(2 * 324)


@pytest.mark.parametrize(
    "angle, scale, shift",
    [(30.0, 1.0, (0, 0)), (-75.0, 2.5, (13.25, -40.5)), (170.0, 0.4, (500, 300)), (90.0, 1.0, (-10, 7))],
)
def test_quad_follows_a_similarity_transform(angle, scale, shift):
    moved = similarity(CANONICAL, angle, scale, shift)
    expected = similarity(ffhq_quad(CANONICAL), angle, scale, shift)
    np.testing.assert_allclose(ffhq_quad(moved), expected, atol=1e-9)
    # and so do the aligned positions of the landmarks: the crop undoes the similarity
    np.testing.assert_allclose(
        aligned_points(moved, ffhq_quad(moved), 256), aligned_points(CANONICAL, ffhq_quad(CANONICAL), 256), atol=1e-9
    )


def test_quad_corners_land_on_the_output_corners():
    quad = ffhq_quad(similarity(CANONICAL, 20, 1.3, (5, 9)))
    corners = aligned_points(quad, quad, 256)
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [-0.5, 255.5], [255.5, 255.5], [255.5, -0.5]], atol=1e-9)
    assert quad_to_output_affine(quad, 256).shape == (2, 3)


def test_68_points_reduce_to_eye_means_nose_tip_and_mouth_corners():
    rng = np.random.RandomState(0)
    points = rng.uniform(0, 300, (68, 2))
    five = to_five_landmarks(points)
    np.testing.assert_allclose(five[0], points[36:42].mean(axis=0))
    np.testing.assert_allclose(five[1], points[42:48].mean(axis=0))
    np.testing.assert_allclose(five[2], points[30])
    np.testing.assert_allclose(five[3], points[48])
    np.testing.assert_allclose(five[4], points[54])
    np.testing.assert_allclose(ffhq_quad(points), ffhq_quad(five))


@pytest.mark.parametrize(
    "points, words",
    [
        (np.zeros((4, 2)), "5 or 68"),
        (np.zeros((5, 3)), "5 or 68"),
        ([[1, 2]] * 4 + [[float("nan"), 1]], "finite"),
        ([["a", "b"]] * 5, "5 or 68"),
        (np.full((5, 2), 7.0), "degenerate"),
    ],
)
def test_bad_landmarks_are_one_line_errors(points, words):
    with pytest.raises(P2SError, match=words):
        ffhq_quad(points)


# --- the crop ------------------------------------------------------------------------
@pytest.mark.parametrize("size", [256, 1024])
def test_rotated_dots_come_back_to_the_canonical_places(size):
    """Dots at the landmarks, image turned by 30 degrees: aligning on the turned landmarks
    puts each dot where the upright face's landmarks land (eyes level)."""
    upright = dots_image(CANONICAL)
    turned = upright.rotate(30, resample=Image.Resampling.BICUBIC, center=(200, 200), fillcolor=GREY)
    # PIL turns counter-clockwise on screen; with y down that is this rotation about (200, 200)
    landmarks = similarity(CANONICAL - 200, -30, 1.0, (200, 200))
    np.testing.assert_allclose(dot_centres(turned), landmarks, atol=0.6)  # the test image is right

    aligned = align_face(turned, landmarks, size)
    assert aligned.size == (size, size) and aligned.mode == "RGB"
    canonical = aligned_points(CANONICAL, ffhq_quad(CANONICAL), size)
    found = dot_centres(aligned)
    tolerance = 2.0 * size / 256  # pixels of the output
    np.testing.assert_allclose(found, canonical, atol=tolerance)
    assert abs(found[0, 1] - found[1, 1]) < tolerance  # eyes level
    assert found[0, 0] < found[1, 0] and found[3, 1] > found[0, 1]  # left eye left, mouth below
    # the quad leaves the turned image, so padding was needed: no black (unfilled) pixels
    assert (np.asarray(aligned).max(axis=-1) > 20).all()


def test_where_the_landmarks_land():
    """Eye distance = eye-mouth distance (the 2.0 rule wins): eyes at 3/8 and 5/8 of the
    width and 0.475 of the height, mouth corners at 0.725 of the height."""
    canonical = aligned_points(CANONICAL, ffhq_quad(CANONICAL), 256) + 0.5
    np.testing.assert_allclose(canonical[:2, 0] / 256, [0.375, 0.625], atol=1e-9)
    np.testing.assert_allclose(canonical[0, 1] / 256, 0.475, atol=1e-9)
    np.testing.assert_allclose(canonical[3, 1] / 256, 0.725, atol=1e-9)


def test_big_faces_are_shrunk_first_and_still_land_in_place():
    big = CANONICAL * 5  # quad of 1600 px: pre-shrunk by 3 for a 256 output
    image = dots_image(big, size=(2000, 2000), radius=25)
    found = dot_centres(align_face(image, big, 256))
    np.testing.assert_allclose(found, aligned_points(big, ffhq_quad(big), 256), atol=1.0)


def test_padding_reflects_and_can_be_turned_off():
    corner = CANONICAL - 150  # the face at the top-left corner: the quad leaves the image
    rng = np.random.RandomState(1)
    image = Image.fromarray(rng.randint(60, 200, (300, 300, 3)).astype(np.uint8))
    padded = np.asarray(align_face(image, corner, 128))
    bare = np.asarray(align_face(image, corner, 128, enable_padding=False))
    assert padded.min() > 20  # reflected and blended, never black
    assert (bare[:10, :10] == 0).all()  # outside the image stays black without padding
    assert padded.shape == bare.shape == (128, 128, 3)


def test_numpy_input_and_grey_images():
    grey = Image.fromarray(np.full((400, 400), 90, np.uint8), "L")
    out = align_face(grey, CANONICAL, 64)
    assert out.mode == "RGB" and out.size == (64, 64)
    out2 = align_face(np.asarray(grey.convert("RGB")), CANONICAL, 64)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(out2))


def test_a_face_outside_the_image_is_an_error():
    with pytest.raises(P2SError, match="outside the image"):
        align_face(Image.new("RGB", (100, 100)), CANONICAL + 5000, 64)


@pytest.mark.parametrize("scale, shift", [(1e7, 0.0), (1.0, 1e9), (3000.0, 0.0)])
def test_landmarks_far_off_the_image_are_one_line_not_a_huge_crop(scale, shift):
    from p2s.utils.errors import P2SError

    image = np.zeros((64, 64, 3), np.uint8)
    points = (np.array([[24, 28], [40, 28], [32, 36], [26, 46], [38, 46]], float) - 32) * scale + 32 + shift
    with pytest.raises(P2SError, match=r"for a 64x64 image.*check that (they|the landmarks) are this image's pixel"):
        align_face(image, points, size=32)
