"""Software-defined assets: per-scene products partitioned by `landsat_scenes`, and summaries."""
