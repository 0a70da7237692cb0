# One command per job. Each target creates the environment (.venv) first if it is missing.
#   make lab     JupyterLab on the course (the main job; offline default profile)
#   make test    the whole test suite: library, grader, and every notebook executed (COURSE_PROFILE=ci)
#   make course  headless: execute every notebook into course_out/ (PROFILE=ci|cpu|gpu)
#   make exercises / make grade SUBMISSIONS=dir [SOURCE=private/solutions]   instructor jobs
#   make colab REPO=owner/name [BRANCH=main]      point every Colab badge/install cell at a fork
#   make ui-check  run every notebook in JupyterLab in headless Chromium (screenshots in ui_check_out/<name>/)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned so pip never resolves a surprise multi-GB build; override on other platforms,
# e.g. make test TORCH="torch==2.9.1 torchvision==0.24.1"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Where torch comes from: auto = PyTorch's CPU-only index when there is no NVIDIA driver and that
# index answers, else the default index (.ci/torch_index.py says which). Or: cpu, default, a URL.
TORCH_INDEX ?= auto
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PROFILE ?= ci
# make test runs this many pytest workers, one thread each, a file (or notebook) per worker at a time,
# slowest files first (tests/conftest.py), so every core stays busy to the end.
TEST_JOBS ?= auto
SUBMISSIONS ?= submissions
# the solutions to grade against: a private copy keeps hidden tests out of the public tree (solutions/README.md)
SOURCE ?= solutions
STAMP := $(VENV)/.installed
# Jupyter refuses to run as root (containers, cloud boxes) unless told to.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: env lab test course exercises grade git-filter clean-notebooks colab ui-check

# pip --no-compile, then compileall on every core (about half pip's one-core time). The bytecode must
# exist before the tests: where PYTHONDONTWRITEBYTECODE is set (as on this project's CI machines), and
# for the grader's kernels, which run as other users and cannot write it, every Python process would
# otherwise compile torch again (make test measured 39 CPU-minutes without it, 24 with).
# compileall exits 1 on the few files in site-packages meant for newer Pythons: those are not imported.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	index="$$($(PYTHON) .ci/torch_index.py $(TORCH_INDEX) --cpu-index $(TORCH_CPU_INDEX))" && \
		$(BIN)/python -m pip install --no-compile $$index $(TORCH)
	$(BIN)/python -m pip install --no-compile -e ".[dev]"
	$(BIN)/python -m compileall -qq -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
		course_lib || true
	touch $(STAMP)

# Notebooks are committed without outputs whatever Lab saved: a git clean filter strips them
# (.ci/nbclean.py, declared in .gitattributes). Outside a git checkout there is nothing to do;
# a checkout without .ci/nbclean.py (an old branch) passes notebooks through unchanged.
NBCLEAN := [ -f .ci/nbclean.py ] && exec $(PYTHON) .ci/nbclean.py || exec cat
git-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		git config filter.nbclean.clean '$(NBCLEAN)'; \
	else echo "not a git checkout: notebook output filter not installed"; fi

clean-notebooks:
	$(PYTHON) .ci/nbclean.py --inplace notebooks/*.ipynb solutions/*.ipynb exercises/*.ipynb

env: $(STAMP) git-filter

lab: $(STAMP) git-filter
	$(BIN)/jupyter lab $(LAB_FLAGS) --notebook-dir=. notebooks/00_tour.ipynb

test: $(STAMP) git-filter
	$(BIN)/python -m course_lib.grading assign --check
	COURSE_PROFILE=ci CLAIMS_STRICT=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
		-n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --ignore=tests/grading_fixtures --durations=15

course: $(STAMP)
	COURSE_PROFILE=$(PROFILE) $(BIN)/jupyter nbconvert --to notebook --execute \
		--ExecutePreprocessor.timeout=-1 --output-dir course_out notebooks/*.ipynb

exercises: $(STAMP)
	$(BIN)/python -m course_lib.grading assign

grade: $(STAMP)
	$(BIN)/python -m course_lib.grading autograde $(SUBMISSIONS) --source $(SOURCE) --out grading_out

colab:
	$(PYTHON) .ci/colab_repo.py set $(REPO) $(if $(BRANCH),--branch $(BRANCH),)

# Not part of `make test`: needs Chromium and chromedriver (installed with apt-get when run as root).
ui-check: $(STAMP)
	$(PYTHON) .ci/ui_check.py --install --python $(BIN)/python --out ui_check_out notebooks/*.ipynb
