"""Per-FOV physics orchestration on arrays: the steps from raw frames to training patches.

Each function takes one FOV's arrays and plain parameters and calls the named algorithms of
:mod:`holo_pipeline.optics`; none does I/O. The order is

1. :func:`super_resolve_fov` — pixel super-resolution of each height (6×6 scan → one hologram),
   background normalisation (:func:`normalize_background`) and lateral registration of every
   height to height 0 (:func:`register_heights`);
2. :func:`autofocus_fov` — z2 of each height by edge sparsity inside the stage range;
3. :func:`phase_retrieve_fov` — multi-height phase retrieval with the autofocused heights;
4. :func:`extract_patches` — non-overlapping patches: inputs are each height's amplitude
   back-propagated with zero phase by the FOV's mean height z̄2, the target is the MH-PR field.

Reference: Huang et al., "Few-shot transfer learning for holographic image reconstruction using a
recurrent neural network", APL Photonics 7, 070801 (2022), Methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from holo_pipeline import optics


@dataclass(frozen=True)
class SuperResolvedFOV:
    """Super-resolved holograms of one FOV.

    Attributes
    ----------
    holograms
        float32 ``(n_heights, H, W)``, background-normalised intensities registered to height 0,
        clipped at 0.
    scan_shifts
        float32 ``(n_heights, n_frames, 2)``: sub-pixel scan shifts in low-res pixels.
    height_shifts
        float32 ``(n_heights, 2)``: lateral (dy, dx) of each height relative to height 0 in
        super-resolved pixels, removed by registration.
    """

    holograms: np.ndarray
    scan_shifts: np.ndarray
    height_shifts: np.ndarray


@dataclass(frozen=True)
class PatchSet:
    """Training patches of one FOV (layout of :mod:`holo_pipeline.datasets.patch_store`)."""

    inputs: np.ndarray  # float32 (n, n_heights, P, P, 2)
    target: np.ndarray  # float32 (n, P, P, 2)
    origin: np.ndarray  # int32 (n, 2)


def normalize_background(intensity: np.ndarray, *, sigma_fraction: float = 0.25) -> np.ndarray:
    """Divide an intensity by its background so that the unscattered light is ≈ 1.

    The background is a heavily blurred copy (Gaussian, σ = ``sigma_fraction`` × the larger side,
    reflected at the borders), which also removes slow illumination gradients; the blur is scaled
    to the image median so that a sample covering part of the FOV does not bias the level.

    Parameters
    ----------
    intensity
        Real ``(H, W)`` intensity, positive.
    sigma_fraction
        Blur width as a fraction of the image side.

    Returns
    -------
    ndarray
        float32 ``(H, W)``.
    """
    img = np.asarray(intensity, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"intensity must be (H, W), got {img.shape}")
    sigma = max(1.0, sigma_fraction * max(img.shape))
    # A blur this wide needs no full-resolution convolution: blur block means, then interpolate.
    step = max(1, min(int(sigma // 8), img.shape[0] // 4, img.shape[1] // 4))
    ny, nx = img.shape[0] // step, img.shape[1] // step
    blocks = img[: ny * step, : nx * step].reshape(ny, step, nx, step).mean(axis=(1, 3))
    coarse = ndimage.gaussian_filter(blocks, sigma=sigma / step, mode="reflect")
    background = ndimage.zoom(
        coarse, (img.shape[0] / ny, img.shape[1] / nx), order=1, mode="nearest", grid_mode=True
    )
    floor = max(float(np.median(background)) * 1e-3, np.finfo(np.float32).tiny)
    return (img / np.maximum(background, floor)).astype(np.float32)


def register_heights(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    upsample: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Register every height's hologram laterally to height 0.

    Holograms recorded at different heights are different diffraction patterns, so they are not
    correlated directly: each is first refocused (zero-phase amplitude back-propagated by its
    nominal height ``z2``), where all heights show the same in-focus sample. The shifts between the
    refocused amplitudes are estimated by subpixel cross-correlation
    (:func:`holo_pipeline.optics.estimate_shifts`) and removed from the holograms with a Fourier
    shift (a lateral shift commutes with free-space propagation; borders wrap).

    Parameters
    ----------
    holograms
        ``(n, H, W)`` background-normalised intensities.
    z2
        ``(n,)`` approximate heights (metres) used only to refocus for the correlation.

    Returns
    -------
    registered, shifts
        float32 ``(n, H, W)`` and float32 ``(n, 2)`` (dy, dx) in pixels of ``holograms``, with
        ``holograms[k](y, x) ≈ holograms[0](y - dy, x - dx)``.
    """
    stack = np.asarray(holograms, dtype=np.float32)
    if stack.ndim != 3 or len(z2) != stack.shape[0]:
        raise ValueError(
            f"holograms must be (n, H, W) with one z2 per hologram, got {stack.shape} and "
            f"{len(z2)} heights"
        )
    propagator = optics.Propagator(stack.shape[1:], wavelength=wavelength, pixel_size=pixel_size)
    focused = np.stack(
        [
            np.abs(propagator.propagate(_amplitude(h), -float(z), background=1.0))
            for h, z in zip(stack, z2, strict=True)
        ]
    )
    shifts = np.asarray(optics.estimate_shifts(focused, upsample=upsample), dtype=np.float64)
    registered = np.empty_like(stack)
    registered[0] = stack[0]
    for k in range(1, stack.shape[0]):
        spectrum = ndimage.fourier_shift(np.fft.fft2(stack[k]), shift=-shifts[k])
        registered[k] = np.fft.ifft2(spectrum).real
    return registered, shifts.astype(np.float32)


def _amplitude(intensity: np.ndarray) -> np.ndarray:
    """Zero-phase field of an intensity (negative noise clipped)."""
    return np.sqrt(np.maximum(intensity, 0)).astype(np.complex64)


def back_propagate(propagator: optics.Propagator, intensity: np.ndarray, z2: float) -> np.ndarray:
    """Zero-phase amplitude of a normalised hologram back-propagated by ``z2`` to the sample.

    The background (1) is treated as a plane wave extending beyond the window, so the window edge
    does not act as an aperture, and the plane wave's carrier phase is removed: the background
    stays 1, as in the MH-PR field (:func:`phase_retrieve_fov`) that is the training target.
    """
    field = propagator.propagate(_amplitude(intensity), -z2, background=1.0)
    carrier = np.exp(-2j * np.pi * propagator.n_medium * z2 / propagator.wavelength)
    return (field * np.complex64(np.conj(carrier))).astype(np.complex64)


def super_resolve_fov(
    frames: np.ndarray,
    factor: int,
    *,
    z2_nominal: np.ndarray,
    wavelength: float,
    pixel_size: float,
) -> SuperResolvedFOV:
    """Super-resolve, normalise and register all heights of one FOV.

    Parameters
    ----------
    frames
        ``(n_heights, n_frames, h, w)`` raw intensities, the 6×6 scan per height.
    factor
        Super-resolution factor (output is ``(h·factor, w·factor)``).
    z2_nominal
        ``(n_heights,)`` stage heights (metres), to refocus for registration.
    wavelength, pixel_size
        Metres; ``pixel_size`` of the super-resolved grid.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (n_heights, n_frames, h, w), got {frames.shape}")
    sr, scan = [], []
    for height in frames:
        hologram, shifts = optics.super_resolve(height.astype(np.float32), factor)
        sr.append(normalize_background(hologram))
        scan.append(np.asarray(shifts, dtype=np.float32))
    registered, height_shifts = register_heights(
        np.stack(sr), z2_nominal, wavelength=wavelength, pixel_size=pixel_size
    )
    # Noise and the Fourier shift's ringing can dip below 0; an intensity cannot.
    return SuperResolvedFOV(
        holograms=np.maximum(registered, 0), scan_shifts=np.stack(scan), height_shifts=height_shifts
    )


def autofocus_fov(
    holograms: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    z_min: float,
    z_max: float,
) -> np.ndarray:
    """Autofocus each height's hologram (edge sparsity) inside ``[z_min, z_max]`` metres.

    Returns
    -------
    ndarray
        float64 ``(n_heights,)`` sample-to-sensor distances z2 in metres.
    """
    return np.array(
        [
            optics.autofocus(
                np.asarray(h, dtype=np.float32),
                wavelength=wavelength,
                pixel_size=pixel_size,
                z_min=z_min,
                z_max=z_max,
            )
            for h in holograms
        ],
        dtype=np.float64,
    )


def phase_retrieve_fov(
    holograms: np.ndarray,
    z2: np.ndarray,
    *,
    wavelength: float,
    pixel_size: float,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-height phase retrieval of one FOV.

    Returns
    -------
    field, residuals
        complex64 ``(H, W)`` at the sample plane and float32 ``(iterations,)``.
    """
    result = optics.multi_height_phase_retrieval(
        np.asarray(holograms, dtype=np.float32),
        np.asarray(z2, dtype=np.float64),
        wavelength=wavelength,
        pixel_size=pixel_size,
        iterations=iterations,
    )
    return (
        np.asarray(result.field, dtype=np.complex64),
        np.asarray(result.residuals, dtype=np.float32),
    )


def patch_origins(shape: tuple[int, int], patch_size: int) -> np.ndarray:
    """Top-left corners of the non-overlapping ``patch_size`` grid, centred on an ``(H, W)`` image.

    Returns
    -------
    ndarray
        int32 ``(n, 2)`` in row-major order; ``n = (H // P) · (W // P)``, 0 if the image is smaller.
    """
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    ny, nx = shape[0] // patch_size, shape[1] // patch_size
    oy = (shape[0] - ny * patch_size) // 2
    ox = (shape[1] - nx * patch_size) // 2
    grid = [(oy + i * patch_size, ox + j * patch_size) for i in range(ny) for j in range(nx)]
    return np.array(grid, dtype=np.int32).reshape(-1, 2)


def _real_imag(field: np.ndarray) -> np.ndarray:
    return np.stack([field.real, field.imag], axis=-1).astype(np.float32)


def extract_patches(
    holograms: np.ndarray,
    z2: np.ndarray,
    field: np.ndarray,
    *,
    patch_size: int,
    wavelength: float,
    pixel_size: float,
) -> PatchSet:
    """Cut one FOV into network inputs and MH-PR targets.

    Parameters
    ----------
    holograms
        ``(n_heights, H, W)`` normalised, registered intensities.
    z2
        ``(n_heights,)`` autofocused heights (metres); their mean z̄2 is the back-propagation
        distance of every height (as the network expects).
    field
        complex ``(H, W)`` MH-PR field at the sample plane.
    patch_size
        Side P of the square, non-overlapping patches.

    Returns
    -------
    PatchSet
        ``inputs (n, n_heights, P, P, 2)``, ``target (n, P, P, 2)``, ``origin (n, 2)``.
    """
    holograms = np.asarray(holograms, dtype=np.float32)
    if holograms.ndim != 3 or holograms.shape[1:] != np.shape(field):
        raise ValueError(
            f"holograms (n, H, W) and field (H, W) must agree, got {holograms.shape} and "
            f"{np.shape(field)}"
        )
    z_mean = float(np.mean(z2))
    propagator = optics.Propagator(
        holograms.shape[1:], wavelength=wavelength, pixel_size=pixel_size
    )
    back = np.stack([back_propagate(propagator, h, z_mean) for h in holograms])
    origins = patch_origins(holograms.shape[1:], patch_size)
    p = patch_size
    inputs = np.zeros((len(origins), holograms.shape[0], p, p, 2), np.float32)
    target = np.zeros((len(origins), p, p, 2), np.float32)
    for i, (y, x) in enumerate(origins):
        inputs[i] = _real_imag(back[:, y : y + p, x : x + p])
        target[i] = _real_imag(np.asarray(field)[y : y + p, x : x + p])
    return PatchSet(inputs=inputs, target=target, origin=origins)
