"""Benchmark of the optics core: MH-PR against its FFT floor and a straightforward NumPy version.

Run ``python benchmarks/optics.py`` (``--fft-workers 1`` to time one thread, as a Dask worker per
core would; default all cores). Prints ratios and milliseconds (no assertions):

* plain MH-PR on a 512×512 FOV, 8 heights, 20 iterations, versus the time of the FFTs it must do
  (2 per propagation at its padded size, timed here with the same workers; NumPy's elementwise
  work runs on one thread whatever the workers), interleaved ``REPEATS`` times, best of each;
* the same MH-PR written plainly (complex128, transfer function recomputed at every step, pad and
  crop at every step) on the same input, with both errors against the known sample;
* autofocus of the 8 super-resolved holograms (528×528) of one FOV;
* a 36-frame super-resolution of a demo FOV (176×176 frames → 528×528).

``--fft-backends`` prints instead the table the FFT backend was chosen by: seconds per complex64
2-D FFT pair (forward and inverse, 1 worker, CPU time, best of 3 interleaved rounds) on the padded
sizes the pipeline uses, for each ``scipy.fft`` backend that imports here (pocketfft, pyFFTW's
``scipy_fft`` interface with its plan cache, mkl_fft's ``scipy_fft`` interface).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.fft

from holo_pipeline.datasets.processing import refine_heights
from holo_pipeline.optics import (
    Propagator,
    _fft,
    autofocus,
    multi_height_phase_retrieval,
    super_resolve,
)
from holo_validation.phantoms import blob_sample, hologram, pixel_scan

WAVELENGTH = 530e-9
PIXEL = 0.3733e-6
N = 512
ITERATIONS = 20
REPEATS = 3
#: The plain iteration, without the pipeline's additions (which are the function's defaults).
PLAIN = {"momentum": 0.0, "momentum_cutoff": 0.0, "refocus_range": 0.0, "max_amplitude": 0.0}


def _ecc(x: np.ndarray, y: np.ndarray) -> float:
    c = slice(48, -48)
    x, y = x[c, c], y[c, c]
    return float(abs(np.vdot(x, y)) / np.sqrt(np.vdot(x, x).real * np.vdot(y, y).real))


def naive_mhpr(holograms, z2, prop: Propagator, iterations: int) -> np.ndarray:
    """The same algorithm written plainly: complex128, H per step, pad and crop per step."""
    ph, pw = prop.padded_shape
    h, w = holograms.shape[1:]
    k = 1.0 / WAVELENGTH
    fy = np.fft.fftfreq(ph, PIXEL)[:, None]
    fx = np.fft.fftfreq(pw, PIXEL)[None, :]

    def step(s: np.ndarray, dz: float) -> np.ndarray:
        kz2 = k**2 - fx**2 - fy**2
        kz = np.sqrt(np.maximum(kz2, 0))
        reach_y, reach_x = (ph - h) * PIXEL, (pw - w) * PIXEL
        keep = (kz2 > 0) & (np.abs(fy) * abs(dz) <= reach_y * kz)
        keep &= np.abs(fx) * abs(dz) <= reach_x * kz
        transfer = np.where(keep, np.exp(2j * np.pi * dz * (kz - k)), 0)
        padded = np.pad(s, ((0, ph - h), (0, pw - w)))
        return np.fft.ifft2(np.fft.fft2(padded) * transfer)[:h, :w]

    amp = np.sqrt(holograms.astype(np.float64))
    s = amp[0] - 1.0 + 0j
    order = list(range(1, len(z2))) + list(range(len(z2) - 2, -1, -1))
    for _ in range(iterations):
        here = 0
        for plane in order:
            s = step(s, z2[plane] - z2[here])
            u = 1 + s
            u = u / np.maximum(np.abs(u), 1e-6) * (np.abs(u) + amp[plane]) / 2
            s = u - 1
            here = plane
    return 1 + step(s, -z2[0])


def main() -> None:
    rng = np.random.default_rng(0)
    truth = blob_sample((N, N), pixel_size=PIXEL, rng=rng, max_phase=1.0)
    z2 = np.linspace(400e-6, 600e-6, 8)
    holos = np.array([hologram(truth, z, wavelength=WAVELENGTH, pixel_size=PIXEL) for z in z2])
    holos = np.clip(holos + 0.01 * rng.normal(size=holos.shape), 0, None).astype(np.float32)
    print(f"FFT workers: {scipy.fft.get_workers()}")

    # MH-PR and its FFT floor, interleaved REPEATS times: the machine is shared, so each figure is
    # the fastest of its repeats and the ratio is taken between those (noise only slows things).
    prop = Propagator((N, N), wavelength=WAVELENGTH, pixel_size=PIXEL)
    x = (rng.normal(size=prop.padded_shape) + 1j * rng.normal(size=prop.padded_shape)).astype(
        np.complex64
    )
    t_runs, f_runs = [], []
    for _ in range(REPEATS):
        before = prop.n_propagations
        t0 = time.perf_counter()
        result = multi_height_phase_retrieval(
            holos,
            z2,
            wavelength=WAVELENGTH,
            pixel_size=PIXEL,
            iterations=ITERATIONS,
            propagator=prop,
            **PLAIN,
        )
        t_runs.append(time.perf_counter() - t0)
        n_fft = 2 * (prop.n_propagations - before)
        t0 = time.perf_counter()
        for _ in range(n_fft // 2):
            x = _fft.ifft2(_fft.fft2(x, overwrite_x=True), overwrite_x=True)
        f_runs.append(time.perf_counter() - t0)
    t_mhpr, t_fft = min(t_runs), min(f_runs)
    paired = ", ".join(f"{t / f:.2f}" for t, f in zip(t_runs, f_runs, strict=True))

    t0 = time.perf_counter()
    naive = naive_mhpr(holos, z2, prop, ITERATIONS)
    t_naive = time.perf_counter() - t0

    print(
        f"MH-PR {N}x{N}, 8 heights, {ITERATIONS} it, padded {prop.padded_shape}: "
        f"{t_mhpr * 1e3:.0f} ms; {n_fft} FFTs alone {t_fft * 1e3:.0f} ms; "
        f"ratio to FFT floor {t_mhpr / t_fft:.2f} (best of {REPEATS}; paired runs {paired})"
    )
    print(
        f"naive NumPy MH-PR {t_naive * 1e3:.0f} ms; speed-up {t_naive / t_mhpr:.1f}x; "
        f"ECC vs truth: ours {_ecc(result.field, truth):.4f}, naive {_ecc(naive, truth):.4f}"
    )

    def best_of(run):
        """Fastest of REPEATS calls of ``run()`` (seconds) and the last call's result."""
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - t0)
        return min(times), out

    def mhpr(**extra):
        return multi_height_phase_retrieval(
            holos,
            z2,
            wavelength=WAVELENGTH,
            pixel_size=PIXEL,
            iterations=ITERATIONS,
            propagator=prop,
            **(PLAIN | extra),
        )

    # The low-frequency momentum of the pipeline's profile: its extra cost per sweep (one FFT pair
    # and a copy at the lowest plane), same sweeps.
    momentum = {"momentum": 0.95, "momentum_cutoff": 0.1e6}
    t_momentum, with_momentum = best_of(lambda: mhpr(**momentum))
    print(
        f"MH-PR with momentum 0.95 below 0.1 cycles/um, {ITERATIONS} it: {t_momentum * 1e3:.0f} ms"
        f" = {t_momentum / t_mhpr:.2f}x plain per sweep; ECC vs truth "
        f"{_ecc(with_momentum.field, truth):.4f} (plain {_ecc(result.field, truth):.4f})"
    )

    # The profile's MH-PR also holds the sample passive (two more propagations per sweep from sweep
    # 5) and refocuses the common offset every 5 sweeps; the heights are first refined against one
    # another by 2 rounds of 2 MH-PRs of 4 heights, 10 sweeps (refine_heights, in autofocus).
    t_passive, passive = best_of(lambda: mhpr(**momentum, max_amplitude=1.0, refocus_range=10e-6))
    t_refine, _ = best_of(
        lambda: refine_heights(holos, z2, wavelength=WAVELENGTH, pixel_size=PIXEL)
    )
    print(
        f"MH-PR with momentum, passive sample and refocus, {ITERATIONS} it: "
        f"{t_passive * 1e3:.0f} ms = {t_passive / t_momentum:.2f}x momentum alone; ECC vs "
        f"truth {_ecc(passive.field, truth):.4f}; refine_heights "
        f"(2 rounds x 2 halves x 10 sweeps): "
        f"{t_refine * 1e3:.0f} ms = {t_refine / t_passive:.2f}x that MH-PR"
    )

    # Autofocus of one FOV as the pipeline does it: 8 super-resolved holograms (528² at 0.3733 µm)
    # of one sample, each searched over nominal ± 25 µm, and over a wide 350–650 µm range.
    n_af = 528
    af_sample = blob_sample((n_af, n_af), pixel_size=PIXEL, rng=rng)
    af_holos = [hologram(af_sample, z, wavelength=WAVELENGTH, pixel_size=PIXEL) for z in z2]
    af_prop = Propagator((n_af, n_af), wavelength=WAVELENGTH, pixel_size=PIXEL, cache_size=0)
    for label, offset in (("nominal ± 25 um", None), ("350-650 um", (350e-6, 650e-6))):
        times, errors, counts = [], [], []
        for k, z in enumerate(z2):
            nominal = z + rng.uniform(-20e-6, 20e-6)
            lo, hi = offset or (nominal - 25e-6, nominal + 25e-6)
            before = af_prop.n_propagations
            t0 = time.perf_counter()
            found = autofocus(
                np.clip(af_holos[k] + 0.01 * rng.normal(size=(n_af, n_af)), 0, None),
                wavelength=WAVELENGTH,
                pixel_size=PIXEL,
                z_min=lo,
                z_max=hi,
                propagator=af_prop,
            )
            times.append(time.perf_counter() - t0)
            counts.append(af_prop.n_propagations - before)
            errors.append(abs(found - z) * 1e6)
        print(
            f"autofocus {n_af}x{n_af} at {PIXEL * 1e6:.4f} um, {label}: "
            f"{np.median(times) * 1e3:.0f} ms per hologram (median of 8; {sum(times) * 1e3:.0f} ms "
            f"per FOV), <= {max(counts)} propagations; |error| median {np.median(errors):.2f} um, "
            f"max {np.max(errors):.2f} um"
        )

    sr_truth = hologram(
        blob_sample((528, 528), pixel_size=PIXEL, rng=rng),
        500e-6,
        wavelength=WAVELENGTH,
        pixel_size=PIXEL,
    )
    grid = np.arange(6) / 6
    shifts = np.array([(a, b) for a in grid for b in grid]) + rng.uniform(-0.04, 0.04, (36, 2))
    shifts -= shifts[0]
    frames = pixel_scan(sr_truth, shifts, 3, rng=rng)
    t0 = time.perf_counter()
    sr, found = super_resolve(frames, 3)
    t_sr = time.perf_counter() - t0
    rms = float(np.sqrt(np.mean((found - shifts) ** 2)))
    print(
        f"super-resolution 36x176x176 -> {sr.shape}: {t_sr * 1e3:.0f} ms; shift RMS error "
        f"{rms:.4f} px"
    )


class _Missing(str):
    """Why a backend could not be imported."""


def _fft_backends() -> dict[str, object]:
    """The ``scipy.fft`` backends that import here, by name (or why one does not)."""
    backends: dict[str, object] = {"pocketfft": "scipy"}
    try:
        import pyfftw
        import pyfftw.interfaces.scipy_fft as fftw_backend

        pyfftw.interfaces.cache.enable()
        pyfftw.interfaces.cache.set_keepalive_time(60)
        pyfftw.config.PLANNER_EFFORT = "FFTW_MEASURE"
        backends["pyfftw"] = fftw_backend
    except ImportError as error:
        backends["pyfftw"] = _Missing(f"not importable: {error}")
    try:
        import mkl_fft.interfaces.scipy_fft as mkl_backend

        backends["mkl_fft"] = mkl_backend
    except ImportError as error:
        backends["mkl_fft"] = _Missing(f"not importable: {error}")
    return backends


def fft_backend_table(sizes: list[int], rounds: int = 3, pairs: int = 10) -> None:
    """Milliseconds of CPU per complex64 FFT pair per backend and size (see module docstring)."""
    backends = _fft_backends()
    usable = {k: v for k, v in backends.items() if not isinstance(v, _Missing)}
    for name, why in backends.items():
        if isinstance(why, _Missing):
            print(f"{name}: {why}")
    rng = np.random.default_rng(0)
    print(f"{'size':>6s} " + " ".join(f"{name:>10s}" for name in usable) + "   (ms per pair)")
    for n in sizes:
        x = (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))).astype(np.complex64)
        best = dict.fromkeys(usable, float("inf"))
        for name, backend in usable.items():  # plans and caches before timing
            with scipy.fft.set_backend(backend), scipy.fft.set_workers(1):
                y = scipy.fft.ifft2(scipy.fft.fft2(x))
                assert y.dtype == np.complex64, (name, y.dtype)
        for _ in range(rounds):
            for name, backend in usable.items():
                with scipy.fft.set_backend(backend), scipy.fft.set_workers(1):
                    t0 = time.process_time()
                    for _ in range(pairs):
                        scipy.fft.ifft2(scipy.fft.fft2(x), overwrite_x=True)
                    best[name] = min(best[name], (time.process_time() - t0) / pairs)
        print(f"{n:6d} " + " ".join(f"{best[name] * 1e3:10.2f}" for name in usable))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fft-workers", type=int, default=-1, help="scipy.fft threads (-1: all cores)"
    )
    parser.add_argument("--fft-backends", action="store_true", help="the FFT backend table only")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        # padded grids: estimates and MH-PR at the demo's 528² and the paper's 1536², the 768²
        # unit, and the sizes 7/11-smooth rounding would have given
        default=[768, 800, 990, 1000, 1024, 2304, 2880],
        help="FFT sizes for --fft-backends",
    )
    args = parser.parse_args()
    if args.fft_backends:
        fft_backend_table(args.sizes)
    else:
        with scipy.fft.set_workers(args.fft_workers):
            main()
