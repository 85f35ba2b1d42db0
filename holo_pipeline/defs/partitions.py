"""Partition definitions shared by assets, checks and sensors.

``slides`` is the dynamic partition set of slide ids; the landing sensor adds to it.
"""

import dagster as dg

SLIDES = "slides"

slides_partitions = dg.DynamicPartitionsDefinition(name=SLIDES)
