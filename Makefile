# One command per job. Each target creates the environment (.venv) first if it is missing.
#   make lab     JupyterLab on the course (the main job; offline default profile)
#   make test    the whole test suite: library, grader, and every notebook executed (COURSE_PROFILE=ci)
#   make course  headless: execute every notebook into course_out/ (PROFILE=ci|cpu|gpu)
#   make exercises / make grade SUBMISSIONS=dir   instructor jobs
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned so pip never resolves a surprise multi-GB build; override on other platforms,
# e.g. make test TORCH="torch==2.9.1 torchvision==0.24.1"
TORCH ?= torch==2.14.1 torchvision==0.29.1
PROFILE ?= ci
SUBMISSIONS ?= submissions
STAMP := $(VENV)/.installed
# Jupyter refuses to run as root (containers, cloud boxes) unless told to.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: env lab test course exercises grade

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

env: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_FLAGS) --notebook-dir=. notebooks/00_tour.ipynb

test: $(STAMP)
	$(BIN)/python -m course_lib.grading assign --check
	COURSE_PROFILE=ci MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
		--ignore=tests/grading_fixtures --durations=15

course: $(STAMP)
	COURSE_PROFILE=$(PROFILE) $(BIN)/jupyter nbconvert --to notebook --execute \
		--ExecutePreprocessor.timeout=-1 --output-dir course_out notebooks/*.ipynb

exercises: $(STAMP)
	$(BIN)/python -m course_lib.grading assign

grade: $(STAMP)
	$(BIN)/python -m course_lib.grading autograde $(SUBMISSIONS) --out grading_out
