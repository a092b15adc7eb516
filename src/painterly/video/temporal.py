"""Temporal consistency for video: optical flow, warping, occlusion masks, the temporal loss.

After Ruder, Dosovitskiy and Brox (2016), "Artistic style transfer for videos". Each frame
is optimised from the previous *stylised* frame warped by optical flow, and a temporal
loss keeps it close to that warped frame wherever the flow can be trusted.

Conventions (all functions here are pure):

- Frames and images are float32 RGB in [0, 1], shape (1, 3, H, W) (the package convention).
- A flow is a numpy float32 array of shape (H, W, 2) holding (dx, dy) in pixels, defined
  on the grid of the frame it starts from: ``flow_ab[y, x] = (dx, dy)`` says that pixel
  (x, y) of frame a shows the point that is at (x + dx, y + dy) in frame b.
- For frame t, the *backward* flow goes t -> t-1 (Ruder's w-hat, on frame t's grid) and
  the *forward* flow t-1 -> t (Ruder's w, on frame t-1's grid).
- A mask is float32 (1, 1, H, W) with 1 where the warped previous frame is reliable and 0
  at disocclusions, motion boundaries, points that came from outside the frame and (an
  addition to the paper) pixels whose input colour changed beyond what the motion explains.

Deviations from Ruder et al.: the flow is OpenCV's DIS (Kroeger et al. 2016, preset
"medium") rather than DeepFlow/EpicFlow, which is fast enough to be computed on the fly;
the temporal loss is the mean over the *reliable* pixels (Ruder divide by all pixels), so
its scale does not change with how much of the frame is occluded; and the loss is the
short-term one only (previous frame), without the long-term or multi-pass variants.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..color import luminance
from ..optimize import ObjectiveFn

# The temporal weight applies to the loss measured on 0-255 pixel values, the scale of the network's
# input, on which painterly's content weight (neural-style's convention) is also set.
PIXEL_SCALE = 255.0**2

# Ruder et al. 2016, eq. (4)-(5): thresholds in pixels (squared) at the resolution the flow is computed at.
DISOCCLUSION_REL, DISOCCLUSION_ABS = 0.01, 0.5
BOUNDARY_REL, BOUNDARY_ABS = 0.01, 0.002
# Not in the paper: a pixel whose input colour changed by more than this (mean absolute RGB
# difference, values in [0, 1]) after motion compensation is left free too (see appearance_mask).
APPEARANCE_THRESHOLD = 0.1


def to_gray_u8(frame: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W) uint8 luma (Rec. 601), the input DIS works on."""
    rgb = frame.detach().float().cpu()[0].clamp(0, 1)
    y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (y * 255.0 + 0.5).to(torch.uint8).numpy()


def optical_flow(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Dense flow from frame ``a`` to frame ``b`` (both (1, 3, H, W)): (H, W, 2) float32.

    OpenCV's DIS optical flow, preset medium, on the frames' luma.
    """
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    dis = cv2.DISOpticalFlow.create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    flow = dis.calc(to_gray_u8(a), to_gray_u8(b), None)  # type: ignore[call-overload]
    return np.ascontiguousarray(flow, dtype=np.float32)


def _sample_map(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp_array(array: np.ndarray, flow: np.ndarray, *, cubic: bool = False) -> np.ndarray:
    """``out[y, x] = array[y + dy, x + dx]`` (bilinear, or bicubic with ``cubic``; border replicated)
    for (H, W) or (H, W, C) float32."""
    map_x, map_y = _sample_map(flow)
    out = cv2.remap(np.ascontiguousarray(array, dtype=np.float32), map_x, map_y,
                    interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(array.shape)


def warp(image: torch.Tensor, flow: np.ndarray, *, cubic: bool = False) -> torch.Tensor:
    """Sample ``image`` ((1, C, H, W)) at x + flow(x): with the backward flow t -> t-1, this
    brings frame t-1 (or its stylised version) onto frame t's grid. Same shape and dtype out.
    ``cubic``: bicubic instead of bilinear sampling (sharper; see :func:`frame_prior`)."""
    if tuple(image.shape[-2:]) != flow.shape[:2]:
        raise ValueError(f"image {tuple(image.shape[-2:])} and flow {flow.shape[:2]} differ in size")
    hwc = image.detach().float().cpu()[0].permute(1, 2, 0).numpy()
    out = warp_array(hwc, flow, cubic=cubic)
    if out.ndim == 2:
        out = out[..., None]
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1).unsqueeze(0).to(image.dtype)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> torch.Tensor:
    """Ruder et al.'s forward-backward check for frame t: (1, 1, H, W) float32, 1 = reliable.

    ``forward`` is the flow t-1 -> t, ``backward`` the flow t -> t-1 (both (H, W, 2)).
    With w~(x) = forward(x + backward(x)) (the forward flow brought onto frame t's grid), a
    pixel is a disocclusion where |w~ + backward|^2 > 0.01 (|w~|^2 + |backward|^2) + 0.5
    (the two flows do not cancel), a motion boundary where
    |grad u|^2 + |grad v|^2 > 0.01 |backward|^2 + 0.002 (u, v: components of the backward
    flow), and also unreliable where x + backward(x) lies outside frame t-1.
    """
    if forward.shape != backward.shape:
        raise ValueError(f"flows differ in shape: {forward.shape} vs {backward.shape}")
    h, w = backward.shape[:2]
    fw = warp_array(forward, backward)
    bw = backward
    disocc = ((fw + bw) ** 2).sum(-1) > DISOCCLUSION_REL * ((fw ** 2).sum(-1) + (bw ** 2).sum(-1)) + DISOCCLUSION_ABS
    uy, ux = np.gradient(bw[..., 0])
    vy, vx = np.gradient(bw[..., 1])
    boundary = ux ** 2 + uy ** 2 + vx ** 2 + vy ** 2 > BOUNDARY_REL * (bw ** 2).sum(-1) + BOUNDARY_ABS
    map_x, map_y = _sample_map(bw)
    outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    reliable = ~(disocc | boundary | outside)
    return torch.from_numpy(reliable.astype(np.float32))[None, None]


def appearance_mask(prev_frame: torch.Tensor, frame: torch.Tensor, backward: np.ndarray,
                    threshold: float = APPEARANCE_THRESHOLD) -> torch.Tensor:
    """(1, 1, H, W) float32: 0 where the input changed beyond what motion explains, else 1.

    Frame t-1 ((1, 3, H, W)) warped by the backward flow should reproduce frame t; where the
    mean absolute RGB difference exceeds ``threshold`` (a mouth opening, a light switching
    on: changes the flow check cannot see because nothing moved), the pixel and its 8
    neighbours are marked. Without this, the temporal loss holds on to the old picture there.
    """
    diff = (warp(prev_frame.float(), backward) - frame.detach().float().cpu()).abs().mean(1, keepdim=True)
    changed = F.max_pool2d((diff > threshold).float(), 3, stride=1, padding=1)
    return 1.0 - changed


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over reliable pixels (and channels) of (image - warped)^2; 0 where nothing is reliable.

    ``image``, ``warped``: (1, 3, H, W); ``mask``: (1, 1, H, W) in [0, 1]. A scalar tensor,
    differentiable in ``image``; 0 exactly when ``image`` equals ``warped`` on the mask.
    """
    mask = mask.to(image.device, image.dtype)
    diff = (image - warped.to(image.device, image.dtype)).pow(2) * mask
    weight = mask.sum() * image.shape[1]
    if float(weight) == 0:
        return diff.sum() * 0.0
    return diff.sum() / weight


@dataclass(frozen=True)
class FramePrior:
    """What frame t inherits from frame t-1: ``warped`` (1, 3, H, W) in [0, 1], the previous
    stylised frame on frame t's grid, and ``mask`` (1, 1, H, W), where it can be trusted."""

    warped: torch.Tensor
    mask: torch.Tensor

    @property
    def reliable(self) -> float:
        """Fraction of pixels the temporal loss covers."""
        return float(self.mask.mean())


@dataclass(frozen=True)
class Motion:
    """How input frame t follows from frame t-1: the ``backward`` flow (t -> t-1, (H, W, 2)) and
    ``mask`` ((1, 1, H, W)), where it can be trusted. Made once per pair (:meth:`between`): a chunked
    run's coordinator finds the cuts with it and sends it to the worker that paints the pair."""

    backward: np.ndarray
    mask: torch.Tensor

    @property
    def reliable(self) -> float:
        """Fraction of frame t that follows from frame t-1 (below ``scene_cut``: a cut)."""
        return float(self.mask.mean())

    @classmethod
    def between(cls, prev_frame: torch.Tensor, frame: torch.Tensor) -> Motion:
        """Flow both ways between the input frames t-1 and t (each (1, 3, H, W)), and where the flows
        disagree (:func:`consistency_mask`) or the input itself changed (:func:`appearance_mask`)."""
        backward = optical_flow(frame, prev_frame)
        forward = optical_flow(prev_frame, frame)
        return cls(backward, consistency_mask(forward, backward) * appearance_mask(prev_frame, frame, backward))

    def prior(self, prev_frame: torch.Tensor, frame: torch.Tensor, prev_stylised: torch.Tensor, *,
              sharp: bool = False, follow: bool = False) -> FramePrior:
        """The previous stylised frame (same size) warped onto frame t (see :func:`frame_prior`)."""
        warped = warp(prev_stylised, self.backward, cubic=sharp)
        if follow:
            warped = warped + (1 - self.mask) * (luminance(frame) - luminance(warp(prev_frame, self.backward)))
        return FramePrior(warped.clamp(0, 1), self.mask)


def frame_prior(prev_frame: torch.Tensor, frame: torch.Tensor, prev_stylised: torch.Tensor, *,
                sharp: bool = False, follow: bool = False) -> FramePrior:
    """Flow both ways between the input frames t-1 and t (each (1, 3, H, W)), warp the
    previous stylised frame (same size) onto frame t, and mark where it cannot be trusted:
    where the flows disagree (:func:`consistency_mask`) or the input itself changed
    (:func:`appearance_mask`): :meth:`Motion.between`, then :meth:`Motion.prior`.

    ``sharp`` warps the stylised frame bicubically. Painting starts each later frame from it:
    bilinear sampling softens the brush marks a little at every frame, and the softening adds up
    along a shot, so that a later frame needed ten iterations to sharpen them back; bicubic keeps
    them, and three do (docs/video.md). The flicker measure (:func:`warping_error`) stays bilinear.

    ``follow`` adds, where the mask does not trust the warped picture, how the input's luminance
    changed there since frame t-1: an eye that closes without moving starts closed, in the
    painting's colours. (From the old picture, three iterations left it open; starting those
    pixels from the frame itself in the painting's palette left them flat; adding the change in
    RGB brought the photo's skin tones in.) Outside the mask it changes nothing the temporal loss sees."""
    return Motion.between(prev_frame, frame).prior(prev_frame, frame, prev_stylised, sharp=sharp, follow=follow)


def warping_error(prev_out: torch.Tensor, out: torch.Tensor, prev_frame: torch.Tensor, frame: torch.Tensor) -> float:
    """The flicker measure: temporal loss of ``out`` against ``prev_out`` warped by the *input*
    frames' flow, over the reliable pixels (all four (1, 3, H, W) in [0, 1])."""
    prior = frame_prior(prev_frame, frame, prev_out)
    return float(temporal_loss(out.float().cpu(), prior.warped, prior.mask))


class TemporalObjective:
    """``base`` objective plus ``weight * PIXEL_SCALE * temporal_loss(image, prior.warped, prior.mask)``.

    Wraps any ``image -> (total, terms)`` callable (normally :class:`painterly.objective.Objective`)
    and adds the term ``"temporal"``. ``PIXEL_SCALE`` (255^2) puts the loss on 0-255 pixel
    values, the scale the content and style terms see, as in Ruder et al.'s code.
    """

    def __init__(self, base: ObjectiveFn, prior: FramePrior, weight: float):
        self.base = base
        self.weight = weight
        self.warped = prior.warped
        self.mask = prior.mask

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, terms = self.base(image)
        if self.weight > 0:
            if self.warped.device != image.device:
                self.warped, self.mask = self.warped.to(image.device), self.mask.to(image.device)
            t = self.weight * PIXEL_SCALE * temporal_loss(image, self.warped, self.mask)
            terms = {**terms, "temporal": t}
            total = total + t
        return total, terms
