# Two entry points on a fresh machine:
#   make console   the bot on its embedded default (no Slack, no Redis, no keys)
#   make test      install everything (venv, packages, redis-server) and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: console test install redis-server bench clean

# uv installs the packages several times quicker than pip (a fresh clone: pip with its self-upgrade
# took 73 s). Unlike pip it compiles no bytecode up front (35 s of CPU, mostly for modules nothing
# imports): Python writes it as modules are first imported, unless PYTHONDONTWRITEBYTECODE is set,
# which `make test` lifts for its run.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q 'uv<1'
	$(VENV)/bin/uv pip install --python $(PY) -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

console: $(VENV)/.installed
	$(VENV)/bin/adops console

# The tests start their own redis-server on a free port; only the binary must exist.
redis-server:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q redis-server; }

# Three test processes on two cores: most tests wait on processes, sockets and timers rather
# than compute (measured: 228 s against 301 s with two; four were no quicker, 303 s against
# 280-290 s with three, on a machine other work loaded). The suite starts many Python processes
# (webs, workers, clocks, consoles, CLIs): each importing the bot with no bytecode cached costs
# ~2 s of CPU more (3.5 s against 1.5 s measured), so bytecode is cached whatever the environment says.
test: $(VENV)/.installed redis-server
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n 3 --dist loadfile

bench: $(VENV)/.installed redis-server
	$(PY) bench/ack_latency.py
	$(PY) bench/exports_inflight.py
	$(PY) bench/everflow_requests.py
	$(PY) bench/everflow_memory.py
	$(PY) bench/adspect_clicklog.py
	$(PY) bench/digests.py
	$(PY) bench/cron.py
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
