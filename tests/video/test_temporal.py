"""Optical flow, warping, the occlusion mask and the temporal loss (painterly.video.temporal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import DATA
from painterly.images import resize
from painterly.video.temporal import (
    FramePrior,
    TemporalObjective,
    appearance_mask,
    consistency_mask,
    frame_prior,
    optical_flow,
    temporal_loss,
    warp,
    warping_error,
)

CLIP = DATA / "clip.mp4"


def texture(h: int, w: int, seed: int, cells: int = 12) -> torch.Tensor:
    """A smooth random colour texture (1, 3, h, w) in [0, 1]: something optical flow can track."""
    g = torch.Generator().manual_seed(seed)
    return resize(torch.rand(1, 3, cells, cells, generator=g), (h, w))


def shifted(x: torch.Tensor, dx: int, dy: int = 0) -> torch.Tensor:
    """``x`` moved right by dx and down by dy (edges replicated)."""
    out = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    if dx > 0:
        out[..., :, :dx] = x[..., :, :1]
    if dy > 0:
        out[..., :dy, :] = x[..., :1, :]
    return out


def square_scene(x0: int, size: int = 32, hw: int = 96) -> torch.Tensor:
    """A textured square at columns x0..x0+size (rows 30..62) over a static textured background."""
    frame = texture(hw, hw, seed=1)
    patch = texture(size, size, seed=2, cells=8)
    frame[..., 30:30 + size, x0:x0 + size] = 1 - patch
    return frame


def clip_frames(n: int = 2) -> list[torch.Tensor]:
    av = pytest.importorskip("av")
    out = []
    with av.open(str(CLIP)) as c:
        for f in c.decode(video=0):
            out.append(torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float() / 255)
            if len(out) == n:
                break
    return out


def test_warp_with_zero_flow_is_identity():
    x = texture(20, 30, seed=0)
    assert torch.allclose(warp(x, np.zeros((20, 30, 2), np.float32)), x, atol=1e-6)


def test_warp_with_integer_flow_shifts():
    x = texture(20, 30, seed=0)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = -3  # every pixel of the result comes from 3 px to its left: the image moves right by 3
    assert torch.allclose(warp(x, flow)[..., 3:], x[..., :-3], atol=1e-5)


def test_flow_recovers_a_translation_and_warping_undoes_it():
    a = texture(96, 96, seed=3)
    b = shifted(a, 4, 2)  # the scene moves 4 px right and 2 px down
    flow = optical_flow(a, b)  # a(x) is at x + flow(x) in b
    inner = flow[16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(4, abs=0.2)
    assert np.median(inner[..., 1]) == pytest.approx(2, abs=0.2)
    back = optical_flow(b, a)
    assert float((warp(a, back) - b)[..., 16:-16, 16:-16].abs().mean()) < 0.01


def test_mask_is_reliable_everywhere_for_a_still_scene():
    a = texture(64, 64, seed=4)
    flow = optical_flow(a, a)
    assert float(consistency_mask(flow, flow).mean()) == 1.0


def test_mask_flags_the_region_that_appears_behind_a_moving_square():
    prev, cur = square_scene(20), square_scene(26)  # the square moves 6 px right
    backward, forward = optical_flow(cur, prev), optical_flow(prev, cur)
    mask = consistency_mask(forward, backward)[0, 0]
    assert mask.shape == (96, 96) and set(mask.unique().tolist()) <= {0.0, 1.0}
    uncovered = mask[32:60, 20:26]  # background the square covered in the previous frame
    assert float(uncovered.mean()) < 0.2
    far = torch.cat([mask[4:24, 4:92].flatten(), mask[70:92, 4:92].flatten()])
    assert float(far.mean()) > 0.95
    assert float(mask[34:58, 30:54].mean()) > 0.9  # the square's inside moved rigidly: reliable


def test_mask_flags_what_enters_at_the_border_in_a_pan():
    scene = texture(96, 128, seed=5)
    prev, cur = scene[..., :, 8:104], scene[..., :, 16:112]  # the camera pans 8 px right
    mask = consistency_mask(optical_flow(prev, cur), optical_flow(cur, prev))[0, 0]
    assert float(mask[:, -6:].mean()) < 0.2  # new at the right edge: not in the previous frame
    assert float(mask[8:-8, 8:-16].mean()) > 0.95


def test_appearance_mask_flags_a_change_without_motion():
    prev = texture(64, 64, seed=10)
    cur = prev.clone()
    cur[..., 20:30, 20:40] = (cur[..., 20:30, 20:40] - 0.3).clamp(0, 1)  # a patch darkens, nothing moves
    backward, forward = optical_flow(cur, prev), optical_flow(prev, cur)
    assert float(consistency_mask(forward, backward)[..., 20:30, 20:40].mean()) > 0.5  # the flow check misses it
    mask = appearance_mask(prev, cur, backward)[0, 0]
    assert float(mask[20:30, 20:40].mean()) < 0.1
    assert float(mask[40:, :].mean()) == 1.0 and float(mask[:15, :].mean()) == 1.0
    assert float(frame_prior(prev, cur, prev).mask[0, 0, 20:30, 20:40].mean()) < 0.1


def test_a_change_without_motion_starts_changed_in_the_painting_s_colours():
    """``follow``: where the input darkened without moving, the start is the old painting darkened by
    as much (the same in every channel: no hue of the photo); where it is trusted, the old painting."""
    prev = texture(64, 64, seed=10)
    cur = prev.clone()
    cur[..., 20:30, 20:40] = (cur[..., 20:30, 20:40] - 0.3).clamp(0, 1)
    painted = torch.full_like(prev, 0.6)
    plain, followed = frame_prior(prev, cur, painted), frame_prior(prev, cur, painted, follow=True)
    assert torch.equal(plain.mask, followed.mask)
    change = followed.warped - plain.warped
    assert float(change[..., 22:28, 22:38].mean()) == pytest.approx(-0.3, abs=0.06)
    assert float((change[:, 0] - change[:, 2]).abs().max()) < 1e-6  # a change of brightness, not of hue
    assert float(change[..., 40:, :].abs().max()) < 1e-4 and float(change[..., :15, :].abs().max()) < 1e-4


def test_temporal_loss_is_zero_for_a_perfectly_warped_frame():
    prev, cur = clip_frames(2)
    prev_stylised = texture(*prev.shape[-2:], seed=6)
    prior = frame_prior(prev, cur, prev_stylised)
    assert 0.5 < prior.reliable <= 1.0
    image = prior.warped.clone().requires_grad_(True)
    loss = temporal_loss(image, prior.warped, prior.mask)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert float(image.grad.abs().max()) == 0.0
    noisy = prior.warped + 0.1 * torch.randn(prior.warped.shape, generator=torch.Generator().manual_seed(0))
    assert float(temporal_loss(noisy, prior.warped, prior.mask)) == pytest.approx(0.01, rel=0.15)


def test_temporal_loss_ignores_unreliable_pixels_and_averages_the_rest():
    warped = torch.zeros(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    image = warped.clone()
    image[..., 4:, :] = 1.0  # differs only where the mask is 0
    assert float(temporal_loss(image, warped, mask)) == 0.0
    image[..., :4, :] = 0.5  # now differs everywhere reliable, by 0.5
    assert float(temporal_loss(image, warped, mask)) == pytest.approx(0.25)
    assert float(temporal_loss(image, warped, torch.zeros_like(mask))) == 0.0


def test_temporal_objective_adds_the_weighted_term():
    warped = texture(16, 16, seed=7)
    prior = FramePrior(warped, torch.ones(1, 1, 16, 16))

    def base(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tv = (x[..., 1:] - x[..., :-1]).pow(2).mean()
        return tv, {"tv": tv}

    obj = TemporalObjective(base, prior, weight=50.0)
    x = texture(16, 16, seed=8)
    total, terms = obj(x)
    expected = base(x)[0] + 50.0 * 255**2 * ((x - warped) ** 2).mean()
    assert float(total) == pytest.approx(float(expected), rel=1e-5)
    assert set(terms) == {"tv", "temporal"}
    assert float(TemporalObjective(base, prior, 0.0)(x)[0]) == pytest.approx(float(base(x)[0]))


def test_warping_error_separates_a_consistent_sequence_from_a_flickering_one():
    prev, cur = clip_frames(2)
    steady = warping_error(prev, cur, prev, cur)  # the input itself: only flow error remains
    flicker = warping_error(prev, (cur + 0.15 * texture(*cur.shape[-2:], seed=9)).clamp(0, 1), prev, cur)
    assert steady < 0.002 < flicker
