# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DEMO_CATALOG := demo-catalog/catalog.json
export DAGSTER_HOME

# On the demo catalog, `make demo` and `make dev` measure the demo fields as well, keeping the
# demo AOI; a LANDSAT_STAC_URL, LANDSAT_AOI or LANDSAT_FIELDS of your own takes precedence.
DEMO_ENV :=
ifeq ($(origin LANDSAT_STAC_URL),undefined)
ifeq ($(origin LANDSAT_FIELDS),undefined)
DEMO_ENV += LANDSAT_FIELDS=landsat_assets/demo/fields.geojson
endif
ifeq ($(origin LANDSAT_AOI),undefined)
DEMO_ENV += LANDSAT_AOI=landsat_assets/demo/aoi.geojson
endif
endif

.PHONY: install demo dev test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Pinned set: requirements.lock is the resolved working set (pip freeze), used as constraints.
$(INSTALLED): $(PY) pyproject.toml requirements.lock
	$(PY) -m pip install --quiet --upgrade "pip==24.3.1"
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(INSTALLED)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

$(DEMO_CATALOG): | $(INSTALLED)
	$(VENV)/bin/landsat-assets demo-catalog build --out demo-catalog

demo: $(INSTALLED) $(DEMO_CATALOG) $(DAGSTER_HOME)/dagster.yaml
	$(DEMO_ENV) $(VENV)/bin/landsat-assets run

DEV_PORT ?= 3000

# `dagster dev` under a supervisor that stops it within seconds of SIGTERM (devserver.py).
dev: $(INSTALLED) $(DEMO_CATALOG) $(DAGSTER_HOME)/dagster.yaml
	$(DEMO_ENV) $(PY) -m landsat_assets.devserver --host 127.0.0.1 --port $(DEV_PORT) -w workspace.yaml

test: $(INSTALLED)
	$(VENV)/bin/ruff check landsat_assets landsat_assets_tests
	$(VENV)/bin/pytest

# The bench times `gdal_calc.py` beside the project: Debian's GDAL tools provide it (they run
# under /usr/bin/python3), installed here when missing, as .ci/run installs Chromium.
bench: $(INSTALLED)
	@if ! command -v gdal_calc.py >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  as_root=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$as_root apt-get update && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y gdal-bin python3-gdal; \
	fi
	$(PY) -m landsat_assets_tests.bench.run

clean:
	rm -rf data .dagster_home demo-catalog
