"""Demo-area fields for tests: five fields of different covers inside the demo AOI, one of
them (`plot-7`, about 40 m across) smaller than any demo pixel."""

from __future__ import annotations

import json
from pathlib import Path


def square(lon: float, lat: float, side: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
        ],
    }


FIELDS = {
    "north-farm": (square(-105.10, 40.19, 0.03), "irrigated"),
    "reservoir": (square(-105.05, 40.175, 0.02), "water"),
    "east-dryland": (square(-104.98, 40.13, 0.03), "dryland"),
    "town": (square(-105.12, 40.12, 0.025), "urban"),
    "plot-7": (square(-105.0, 40.2, 0.0005), "trial"),  # about 40 m: smaller than a pixel
}


def write_fields(path: Path, covers: dict[str, str] | None = None) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"id": name, "cover": (covers or {}).get(name, cover)},
            "geometry": geometry,
        }
        for name, (geometry, cover) in FIELDS.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path
