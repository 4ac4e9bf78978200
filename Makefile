# newsdesk — set-up and checks. `make run` and `make test` do everything on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
LINTED := newsdesk tests bench eval

.PHONY: run test test-fast lint typecheck pytest bench eval clean migration

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "newsdesk needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# requirements.lock pins every version we test with; pyproject.toml keeps the ranges users install from.
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsdesk demo --serve

test: lint typecheck pytest

# The edit-test loop: everything but the corpus, evaluation and demo-world tests (CI runs those too).
test-fast: lint typecheck $(STAMP)
	$(BIN)/pytest -q -rs -m 'not slow'

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy newsdesk

pytest: $(STAMP)
	$(BIN)/pytest -q -rs

bench: $(STAMP)
	# bench/api.py drives its load with wrk (Debian's package, a C process whose CPU is not the server's).
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

eval: $(STAMP)
	for script in eval/*.py; do case $$script in *common.py) ;; *) $(BIN)/python $$script || exit 1;; esac; done

migration: $(STAMP)
	$(BIN)/python -c 'import sys; from newsdesk.store import make_engine; from newsdesk.store.migrate import upgrade, revision; e = make_engine("sqlite:///.newsdesk/migration-check.db"); upgrade(e); revision(e, sys.argv[1])' "$(m)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
