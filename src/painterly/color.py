"""Colour spaces, luminance-only transfer and colour matching (Gatys et al. 2017, section 5).

Pure functions on the package's image convention: float RGB in [0, 1], shape (B, 3, H, W).
Luminance maps are (B, 1, H, W), chroma (I, Q) maps (B, 2, H, W).

Colour space: YIQ (NTSC), the space the paper uses. Its I and Q rows sum to 0, so a gray
pixel (v, v, v) has Y = v and no chroma, and the inverse's first column is (1, 1, 1):
changing Y moves R, G and B by the same amount. :func:`combine` uses that to put a new
luminance under the content's chroma *without* changing the chroma: it clips Y into the
range that keeps every channel in [0, 1] for that chroma (a deviation from the usual
"convert, then clip RGB", which shifts the hue of saturated pixels).

Colour matching (the paper's eq. 4-6): the style's pixels x become ``A x + b`` with
``b = mu_C - A mu_S`` and ``A Sigma_S A^T = Sigma_C``, in one of three ways
(:class:`painterly.config.ColorMatch`):

- ``chol``: ``A = L_C L_S^-1`` with Cholesky factors ``Sigma = L L^T``;
- ``pca``: ``A = Q_C Lambda_C^1/2 Lambda_S^-1/2 Q_S^T`` (eigen-decompositions, each
  eigenvector paired by rank);
- ``sym``: ``A = Sigma_C^1/2 Sigma_S^-1/2`` with symmetric matrix square roots (the
  Image Analogies variant the paper quotes);
- ``ot``: ``A = Sigma_S^-1/2 (Sigma_S^1/2 Sigma_C Sigma_S^1/2)^1/2 Sigma_S^-1/2``, the optimal
  transport map between the two Gaussians (Pitie & Kokaram's Monge-Kantorovich linear
  transfer): symmetric positive definite, so it moves each colour least and never turns
  light into dark (``pca`` can: an eigenvector's sign is arbitrary). ``--init palette`` uses it.

A small ``eps`` on the covariances' diagonals keeps a gray or flat style image invertible.
"""

from __future__ import annotations

import torch

from . import spill
from .config import ColorMatch, PreserveColors
from .images import resize

# RGB -> YIQ (NTSC 1953 coefficients, rounded so that the I and Q rows sum to exactly 0).
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)

EPS = 1e-5


def _check_rgb(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected an RGB tensor of shape (B, 3, H, W), got {tuple(x.shape)}")


def _apply(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    m = matrix.to(dtype=x.dtype if x.is_floating_point() else torch.float32, device=x.device)
    return torch.einsum("ij,bjhw->bihw", m, x)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 3, H, W) YIQ: Y in [0, 1], I in about [-0.6, 0.6], Q in [-0.52, 0.52]."""
    _check_rgb(x, "rgb_to_yiq")
    return _apply(_RGB_TO_YIQ, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yiq` (not clipped: out-of-gamut YIQ gives RGB outside [0, 1])."""
    _check_rgb(x, "yiq_to_rgb")
    return _apply(_YIQ_TO_RGB, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) luminance Y in [0, 1]."""
    return rgb_to_yiq(x)[:, :1]


def chroma(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 2, H, W): the I and Q channels."""
    return rgb_to_yiq(x)[:, 1:]


def gray3(y: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance -> (B, 3, H, W) gray RGB (the network's input for luminance-only transfer)."""
    return y.expand(-1, 3, -1, -1).contiguous()


def combine(y: torch.Tensor, iq: torch.Tensor) -> torch.Tensor:
    """Luminance (B, 1, H, W) + chroma (B, 2, H, W) -> RGB (B, 3, H, W) in [0, 1].

    Where a luminance value would take the pixel out of the RGB cube for that chroma, the
    luminance (not the chroma) is clipped, so :func:`chroma` of the result equals ``iq``
    whenever ``iq`` is the chroma of some in-gamut colour (e.g. of the content image).
    """
    offset = yiq_to_rgb(torch.cat([torch.zeros_like(y), iq], 1))  # RGB of chroma at Y = 0
    low = (-offset).amax(1, keepdim=True)
    high = (1 - offset).amin(1, keepdim=True)
    y = torch.maximum(torch.minimum(y, high), low)
    # The inverse's first column is (1, 1, 1) up to rounding: RGB = Y + offset.
    return (y + offset).clamp(0, 1)


def luma_swap(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The post-hoc "original colours": ``result``'s luminance under ``content``'s chroma.

    Both (B, 3, H, W) in [0, 1]; ``content`` is resized by the caller to ``result``'s size.
    """
    if result.shape != content.shape:
        raise ValueError(f"luma_swap: result {tuple(result.shape)} and content {tuple(content.shape)} differ in shape")
    return combine(luminance(result), chroma(content))


def _mean_std(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.flatten(1).double()
    return flat.mean(1).view(-1, 1, 1, 1), flat.std(1, unbiased=False).view(-1, 1, 1, 1)


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor, *, clamp: bool = True) -> torch.Tensor:
    """The style's luminance with the content's mean and standard deviation (paper eq. 3).

    ``L_S' = sigma_C / sigma_S (L_S - mu_S) + mu_C``; (B, 1, H, W) each, sizes may differ.
    ``clamp`` clips the result to [0, 1] (which can move the statistics slightly).
    """
    mu_s, sd_s = _mean_std(style_y)
    mu_c, sd_c = _mean_std(content_y)
    out = ((style_y.double() - mu_s) * (sd_c / sd_s.clamp_min(1e-6)) + mu_c).to(style_y.dtype)
    return out.clamp(0, 1) if clamp else out


def color_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image colour mean (B, 3) and covariance (B, 3, 3) of (B, 3, H, W), in float64."""
    _check_rgb(x, "color_stats")
    if spill.spilled(x):  # band by band: the mean, then the covariance about it
        n = x.shape[-2] * x.shape[-1]
        mu = sum((x[..., t:b, :].double().flatten(2).sum(2) for t, b in spill.each_band(x.shape[-2:], 3)),
                 torch.zeros(x.shape[0], 3, dtype=torch.float64)) / n
        cov = sum((_scatter(x[..., t:b, :], mu) for t, b in spill.each_band(x.shape[-2:], 3)),
                  torch.zeros(x.shape[0], 3, 3, dtype=torch.float64)) / n
        return mu, cov
    flat = x.double().flatten(2)  # (B, 3, N)
    mu = flat.mean(2)
    return mu, _scatter(x, mu) / flat.shape[2]


def _scatter(x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3): the sum over ``x``'s pixels of the outer products of their colours less ``mu`` (B, 3)."""
    d = x.double().flatten(2) - mu[:, :, None]
    return d @ d.transpose(1, 2)


def _sym_pow(cov: torch.Tensor, p: float) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag_embed(vals.clamp_min(1e-12) ** p) @ vecs.transpose(-1, -2)


def color_transform(
    style: torch.Tensor, content: torch.Tensor, method: ColorMatch | str = ColorMatch.PCA, *, eps: float = EPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine map (A (B, 3, 3), b (B, 3)) taking ``style``'s colour statistics to ``content``'s."""
    return stats_transform(*color_stats(style), *color_stats(content), method, eps=eps)


def stats_transform(mu_s: torch.Tensor, cov_s: torch.Tensor, mu_c: torch.Tensor, cov_c: torch.Tensor,
                    method: ColorMatch | str = ColorMatch.PCA, *, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine map taking colour mean ``mu_s`` and covariance ``cov_s`` to ``mu_c``, ``cov_c``."""
    method = ColorMatch.parse(method, "color_match")
    eye = torch.eye(3, dtype=torch.float64)
    cov_s, cov_c = cov_s + eps * eye, cov_c + eps * eye
    if method is ColorMatch.CHOL:
        a = torch.linalg.cholesky(cov_c) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    elif method is ColorMatch.PCA:
        val_s, vec_s = torch.linalg.eigh(cov_s)
        val_c, vec_c = torch.linalg.eigh(cov_c)
        scale = (val_c.clamp_min(1e-12) / val_s.clamp_min(1e-12)).sqrt()
        a = vec_c @ torch.diag_embed(scale) @ vec_s.transpose(-1, -2)
    elif method is ColorMatch.SYM:
        a = _sym_pow(cov_c, 0.5) @ _sym_pow(cov_s, -0.5)
    else:  # OT
        root, inv_root = _sym_pow(cov_s, 0.5), _sym_pow(cov_s, -0.5)
        a = inv_root @ _sym_pow(root @ cov_c @ root, 0.5) @ inv_root
    b = mu_c - (a @ mu_s[:, :, None])[:, :, 0]
    return a, b


def match_color(
    style: torch.Tensor,
    content: torch.Tensor,
    method: ColorMatch | str = ColorMatch.PCA,
    *,
    clamp: bool = True,
    eps: float = EPS,
) -> torch.Tensor:
    """Recolour ``style`` so that its colour mean and covariance equal ``content``'s.

    ``style`` (B, 3, H, W) and ``content`` (B or 1, 3, H', W'), RGB in [0, 1]; sizes may
    differ. Exact before ``clamp`` (which clips to [0, 1] and so nudges the statistics
    where the transform leaves the RGB cube).
    """
    _check_rgb(style, "match_color style")
    _check_rgb(content, "match_color content")
    if content.shape[0] == 1 and style.shape[0] > 1:
        content = content.expand(style.shape[0], -1, -1, -1)
    a, b = color_transform(style, content, method, eps=eps)
    out = (torch.einsum("bij,bjhw->bihw", a, style.double()) + b[:, :, None, None]).to(style.dtype)
    return out.clamp(0, 1) if clamp else out


def match_stats(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor,
                method: ColorMatch | str = ColorMatch.OT) -> torch.Tensor:
    """Recolour ``x`` (1, 3, H, W) to colour ``mean`` (1, 3) and covariance ``cov`` (1, 3, 3), clipped to [0, 1]."""
    _check_rgb(x, "match_stats")
    a, b = stats_transform(*color_stats(x), mean, cov, method)
    return apply_map(x, (a, b), clamp=True)


# Steps of the pipeline ----------------------------------------------------------------
ColorMap = tuple[torch.Tensor, torch.Tensor]  # (A (1, 3, 3), b (1, 3)), float64: x -> A x + b


def style_map(style: torch.Tensor, content: torch.Tensor, mode: PreserveColors | str,
              method: ColorMatch | str = ColorMatch.PCA) -> ColorMap | None:
    """The affine colour map that turns ``style`` into what the optimisation sees, or None (identity).

    Every mode is affine per pixel: ``match`` is :func:`color_transform`; ``luminance`` is
    ``x -> (alpha Y(x) + beta) (1, 1, 1)``, the style's luminance with the content's mean and
    standard deviation, replicated to gray (a rank-1 map). Computed once from the full
    images, it can then be applied to the style at any size (:func:`apply_map`) without
    clipping, so the statistics the network sees are exactly the content's.
    """
    mode = PreserveColors.parse(mode, "preserve_colors")
    if mode is PreserveColors.MATCH:
        return color_transform(style, content, method)
    if mode is PreserveColors.LUMINANCE:
        mu_s, sd_s = _mean_std(luminance(style))
        mu_c, sd_c = _mean_std(luminance(content))
        alpha = (sd_c / sd_s.clamp_min(1e-6)).view(-1, 1, 1)
        beta = (mu_c - alpha.view(-1, 1, 1, 1) * mu_s).view(-1, 1)
        y_row = _RGB_TO_YIQ[:1].to(torch.float64)  # (1, 3)
        a = alpha * torch.ones(3, 1, dtype=torch.float64) @ y_row
        return a, beta.expand(-1, 3).contiguous()
    return None


def apply_map(x: torch.Tensor, cmap: ColorMap | None, *, clamp: bool = False) -> torch.Tensor:
    """Apply a :func:`style_map` to (B, 3, H, W) RGB (not clipped unless ``clamp``)."""
    if cmap is None:
        return x
    a, b = cmap

    def mapped(x: torch.Tensor) -> torch.Tensor:
        out = (torch.einsum("bij,bjhw->bihw", a.to(x.device), x.double()) + b.to(x.device)[:, :, None, None]).to(x.dtype)
        return out.clamp(0, 1) if clamp else out

    return spill.pixelwise(mapped, x)


def prepare(
    content: torch.Tensor, styles: list[torch.Tensor], mode: PreserveColors | str, method: ColorMatch | str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The images the optimisation sees for colour ``mode``: (content, styles), in [0, 1].

    ``luminance``: gray (luminance replicated to 3 channels) content, and gray styles whose
    luminance has the content's mean and variance. ``match``: the content, and the styles
    recoloured by :func:`match_color`. ``none``/``luma-swap``: unchanged. (The styles are
    clipped to [0, 1] here; :func:`style_map` gives the unclipped map.)
    """
    mode = PreserveColors.parse(mode, "preserve_colors")
    seen = spill.pixelwise(lambda c: gray3(luminance(c)), content) if mode is PreserveColors.LUMINANCE else content
    return seen, [apply_map(s, style_map(s, content, mode, method), clamp=True) for s in styles]


def finish(image: torch.Tensor, content: torch.Tensor, mode: PreserveColors) -> torch.Tensor:
    """The final colours: for ``luminance`` and ``luma-swap`` the image's luminance under
    the content's chroma (``content`` is (1, 3, H, W) RGB, resized here to ``image``)."""
    mode = PreserveColors.parse(mode, "preserve_colors")
    if mode not in (PreserveColors.LUMINANCE, PreserveColors.LUMA_SWAP):
        return image
    return spill.pixelwise(lambda i, c: combine(luminance(i), chroma(c)), image,
                           resize(content.to(image.device), image.shape[-2:]))
