# Two entry points on a fresh machine:
#   make console   the bot on its embedded default (no Slack, no Redis, no keys)
#   make test      install everything (venv, packages, redis-server) and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: console test install redis-server bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

console: $(VENV)/.installed
	$(VENV)/bin/adops console

# The tests start their own redis-server on a free port; only the binary must exist.
redis-server:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q redis-server; }

# Three test processes on two cores: most tests wait on processes, sockets and timers rather
# than compute (measured: 228 s against 301 s with two).
test: $(VENV)/.installed redis-server
	$(PY) -m pytest -n 3 --dist loadfile

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
