"""Assets and their asset checks, one module per stage.

``ingest`` (raw_scans), ``holograms`` (super_resolved_holograms, autofocused_heights,
mhpr_ground_truth), ``patches`` (patch_dataset, dataset_splits). Training and evaluation assets go
in ``training.py`` and ``evaluation.py`` beside them and are picked up when listed in
``holo_pipeline.definitions.ASSET_MODULES``.
"""
