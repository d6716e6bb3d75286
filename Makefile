# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test train-default clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nextterm predict 1,1,2,3,5,8
	$(BIN)/nextterm predict -n 3 1,4,9,16,25
	$(BIN)/nextterm predict 1,2,6,24,120,720,5040

test: $(STAMP)
	$(BIN)/python -m pytest

# The shipped model: build the data from the OEIS files, train, evaluate, install into the package.
OEIS ?= ../shared/data/oeis
DATA ?= runs/data
CONFIG ?= configs/default-model.toml
RUN ?= runs/default-model
train-default: $(STAMP)
	test -f $(DATA)/summary.json || $(BIN)/nextterm data build --stripped $(OEIS)/stripped.gz --out $(DATA)
	$(BIN)/nextterm train --config $(CONFIG) --data $(DATA) --out $(RUN)
	test -f runs/lookup-train.idx || $(BIN)/nextterm lookup --build --oeis $(OEIS) --allowed $(DATA)/train_ids.txt --index runs/lookup-train.idx
	$(BIN)/python benchmarks/calibrate.py --model $(RUN)/final_latest --data $(DATA) --lookup-index runs/lookup-train.idx
	$(BIN)/python benchmarks/run_evals.py --predictor model --model $(RUN)/final_latest --heldout $(DATA) --limit 2048 --samples 50 --batch-size 64 --tag model
	$(BIN)/python benchmarks/run_evals.py --predictor hybrid --model $(RUN)/final_latest --heldout $(DATA) --limit 2048 --samples 50 --batch-size 64 --tag hybrid
	$(BIN)/python scripts/ship_model.py $(RUN)/final_latest --results benchmarks/results/evals-model.json benchmarks/results/evals-hybrid.json
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/collect_results.py

clean:
	rm -rf $(VENV) build *.egg-info
