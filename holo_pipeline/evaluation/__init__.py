"""Evaluation of reconstructions and the result tables (NumPy/pandas; no Dagster, no TensorFlow).

``metrics`` (RMSE, ECC, MAE, MS-SSIM, wrap-aware phase RMSE), ``evaluate`` (score a model on a
tissue's test patients), ``experiments`` (the transfer plan per profile and how Nt/N maps onto
training tiles), ``tables`` (builders of the four tables, conformed to the catalog's schemas),
``comparisons`` (the paper's four comparisons), ``figures`` (PNG metadata for the UI), ``report``
(``holo-pipeline report``).
"""
