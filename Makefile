# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo lint test train-default gpu-input gpu-rehearsal gpu-unpack ship-gpu clean

# llama-cpp-python (dev extra, for the GGUF tests) compiles llama.cpp from source: a portable CPU
# build (no -march=native, BLAS or OpenMP) without its examples, tests, tools or server. pip keeps
# the wheel it built in its cache, so a later venv installs it in seconds; the line printed after
# the install says how long it took (about 21 minutes from source on 2 busy cores).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	start=$$(date +%s) && CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/python -m pip install --quiet -e '.[dev]' && \
		echo "venv install: $$(( $$(date +%s) - start )) s (llama-cpp-python: built from source unless pip had its wheel cached)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nextterm predict 1,1,2,3,5,8
	$(BIN)/nextterm predict -n 3 1,4,9,16,25
	$(BIN)/nextterm predict 1,2,6,24,120,720,5040

# Lint and format check everywhere, types on the core seams (configured in pyproject.toml).
LINTED := src tests benchmarks scripts
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest

# The shipped model: build the data from the OEIS files, train, evaluate, install into the package.
# Two paths: this CPU one (`make train-default`), and the timed single-GPU run below
# (`make gpu-input`, then `bash scripts/gpu_train.sh OUT` on the GPU machine, then
# `make ship-gpu GPU_OUT=OUT` here), which replaces the shipped model only if it is better.
OEIS ?= ../shared/data/oeis
DATA ?= runs/data
CONFIG ?= configs/default-model.toml
RUN ?= runs/default-model
train-default: $(STAMP)
	test -f $(DATA)/summary.json || $(BIN)/nextterm data build --stripped $(OEIS)/stripped.gz --out $(DATA)
	$(BIN)/nextterm train --config $(CONFIG) --data $(DATA) --out $(RUN)
	test -f runs/lookup-train.idx || $(BIN)/nextterm lookup --build --oeis $(OEIS) --allowed $(DATA)/train_ids.txt --index runs/lookup-train.idx
	$(BIN)/nextterm calibrate --model $(RUN)/final_latest --data $(DATA) --lookup-index runs/lookup-train.idx --results benchmarks/results
	$(BIN)/python benchmarks/run_evals.py --predictor model --model $(RUN)/final_latest --heldout $(DATA) --limit 2048 --samples 50 --batch-size 64 --tag model
	$(BIN)/python benchmarks/run_evals.py --predictor hybrid --model $(RUN)/final_latest --heldout $(DATA) --limit 2048 --samples 50 --batch-size 64 --tag hybrid
	$(BIN)/nextterm model ship $(RUN)/final_latest --results benchmarks/results/evals-model.json benchmarks/results/evals-hybrid.json
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/collect_results.py

# The timed GPU run's carried input: 60% of the training sequences (46.9 MiB; the whole build
# compresses to 77 MiB, more than may travel beside the checkout), all of validation.
GPU_INPUT ?= runs/gpu-input/data.tar.xz
$(DATA)/summary.json: | $(STAMP)
	$(BIN)/nextterm data build --stripped $(OEIS)/stripped.gz --out $(DATA)
gpu-input: $(DATA)/summary.json
	$(BIN)/python -m nextterm.train.timed bundle --data $(DATA) --out $(GPU_INPUT) --fraction 0.6

# The same script on this CPU: a 2-layer model, 1% of the training sequences, a 30-second budget.
REHEARSAL ?= runs/rehearsal
gpu-rehearsal: $(DATA)/summary.json
	$(BIN)/python -m nextterm.train.timed bundle --data $(DATA) --out $(REHEARSAL)/data.tar.xz --fraction 0.01
	rm -rf $(REHEARSAL)/out $(REHEARSAL)/work
	PYTHON=$(BIN)/python bash scripts/gpu_train.sh $(REHEARSAL)/out --config configs/cpu-rehearsal.toml \
		--input $(REHEARSAL)/data.tar.xz --work $(REHEARSAL)/work --budget-s 30 --train-s 30 --reserve-s 5

# The folder a GPU run handed back (GPU_OUT) -> a run directory as `nextterm train` writes it.
GPU_OUT ?= runs/gpu-out
GPU_RUN ?= runs/gpu-run
gpu-unpack:
	rm -rf $(GPU_RUN) && mkdir -p $(GPU_RUN)/final_latest
	cp $(GPU_OUT)/*.safetensors $(GPU_RUN)/final_latest/
	tar -xf $(GPU_OUT)/checkpoint.tar -C $(GPU_RUN)/final_latest
	mv $(GPU_RUN)/final_latest/train_config.json $(GPU_RUN)/
	cp $(GPU_OUT)/metrics.jsonl $(GPU_OUT)/loss.png $(GPU_OUT)/results.json $(GPU_RUN)/

# Calibrate and evaluate the GPU-trained model; install it only if it beats the shipped one on the
# held-out split, alone and in the hybrid (`nextterm model ship --current` refuses it otherwise).
ship-gpu: gpu-unpack
	test -f runs/lookup-train.idx || $(BIN)/nextterm lookup --build --oeis $(OEIS) --allowed $(DATA)/train_ids.txt --index runs/lookup-train.idx
	$(BIN)/nextterm calibrate --model $(GPU_RUN)/final_latest --data $(DATA) --lookup-index runs/lookup-train.idx --results $(GPU_RUN)/calibration
	$(BIN)/python benchmarks/run_evals.py --predictor model --model $(GPU_RUN)/final_latest --heldout $(DATA) --limit 2048 --samples 50 --batch-size 64 --tag gpu-model
	$(BIN)/python benchmarks/run_evals.py --predictor hybrid --model $(GPU_RUN)/final_latest --heldout $(DATA) --limit 2048 --samples 50 --batch-size 64 --tag gpu-hybrid
	$(BIN)/nextterm model ship $(GPU_RUN)/final_latest --results benchmarks/results/evals-gpu-model.json benchmarks/results/evals-gpu-hybrid.json \
		--current benchmarks/results/evals-model.json benchmarks/results/evals-hybrid.json

clean:
	rm -rf $(VENV) build *.egg-info
