"""Dagster glue only: assets (``assets/``), partitions, sensors, resources (schedules later).

Nothing here holds science: assets load inputs, call one function of ``holo_pipeline.datasets``
(or ``model``/``evaluation``), write outputs atomically and attach metadata.
"""
