"""holo_pipeline: orchestrated few-shot transfer learning for lens-free holographic reconstruction.

Layers (arrows point one way): ``defs`` (Dagster glue) -> ``datasets``, ``model``, ``evaluation``,
``instrument``, ``optics``. No core package imports Dagster; ``optics`` imports neither Dagster nor
TensorFlow.

Importing the package turns TensorFlow's oneDNN kernels on (``TF_ENABLE_ONEDNN_OPTS=1``) unless
the variable is set already. TensorFlow enables them by default only on CPUs with AVX-512 VNNI,
BF16 or AMX; elsewhere (AVX2-only CPUs such as many AMD EPYC and older Intel ones) its convolutions
run as Eigen contractions of tiny oneDNN GEMMs. On a 2-core AVX2-only AMD EPYC the kernels made the
demo generator's 512² forward pass 2.1-2.4× and its MS-SSIM 17× faster, a demo train step 1.1-1.4×
(``benchmarks/training.py --sections onednn``). The variable is read when TensorFlow is imported,
so this must run first: import ``holo_pipeline`` before ``tensorflow``.
"""

import os as _os

_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
