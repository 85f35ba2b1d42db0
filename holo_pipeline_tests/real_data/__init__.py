"""Real published lens-free holograms used by the tests (see each folder's README and LICENSE)."""

from pathlib import Path

DCOD = Path(__file__).parent / "dcod"

# sample -> the distance z2 (µm) the DCOD authors reconstruct at (their README, dcod/README.md)
DCOD_Z2_UM = {"cheek_cells": 238.0, "rbcs": 315.0, "usaf_1951": 1065.0}
DCOD_PITCH_UM = 1.12
DCOD_WAVELENGTH_NM = 532.0
