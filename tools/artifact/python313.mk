# Included by the sam build makefiles (BuildMethod: makefile) of the layer and of every function:
# the artifact ships CPython 3.13 bytecode next to every .py, because Lambda unzips it read-only
# with every file dated 1980, so Python can neither write __pycache__ there nor trust a
# timestamp-based .pyc. Hash-based, unchecked: the artifact never changes after the build, so
# python3.13 loads each .pyc without reading or hashing its source (checked-hash would hash every
# source file at every cold start, to guard against edits that cannot happen in a deployed zip).
#
# The interpreter is found by path: PYTHON313=/path/to/python3.13, else pyenv's 3.13.0, else a
# python3.13 on PATH. Bytecode is only valid for the exact minor version, so nothing else will do.
PYTHON313 ?= $(or $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null),$(shell command -v python3.13 2>/dev/null))

define require_python313
	@test -n "$(PYTHON313)" && "$(PYTHON313)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
		|| { echo "sam build needs CPython 3.13 to compile the artifact's bytecode, and found none:" \
			"install it (pyenv install 3.13.0) or set PYTHON313=/path/to/python3.13" \
			"(found: '$(PYTHON313)')." >&2; exit 1; }
endef

# $(call compile313,DIR,PREFIX): DIR's modules compiled as Lambda will find them under PREFIX
# (tracebacks and code objects name /opt/python/... or /var/task/..., not the build's scratch dir).
define compile313
	$(call require_python313)
	"$(PYTHON313)" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$(1)" -p "$(2)" "$(1)"
endef
