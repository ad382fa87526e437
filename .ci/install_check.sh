#!/usr/bin/env bash
# Install check: what a pip user gets (make install-check; make test-all runs it after the suites).
#
#  1. wheel and sdist built (python -m build: the sdist, then the wheel from the sdist) from the
#     checkout's tracked files, copied out of the work tree, so nothing ignored or untracked
#     (a venv, build/, *.egg-info) can slip in;
#  2. the wheel installed, not editable, into a fresh venv with the constraints file (torch first
#     from TORCH_SPEC, as make install does);
#  3. the doctor; `python -m pyserini_diffretriever.run --collection demo` from an empty folder
#     (its table); stock `python -m pyserini.search.lucene --encoder diffretriever-default
#     --impact` on the demo index that run built, which must equal run's own sparse run;
#  4. INSTALL_CHECK_EXTRAS (default qdrant,onnx) added to the same venv, and their quick checks:
#     an ONNX export searched with search.faiss, the encoded demo exported to Qdrant's in-process
#     engine (--edge) and searched with search.qdrant;
#  5. pip uninstall -y pyserini-diffretriever: no .pth left, no finder on sys.meta_path.
#
# Environment: PYTHON (the interpreter the venv is made from; default python3.12),
# CONSTRAINTS (default constraints/py312-pyserini2.4.txt), TORCH_SPEC (default torch==2.13.0),
# INSTALL_CHECK_EXTRAS ("" skips step 4), INSTALL_CHECK_REF (build a commit instead of the work
# tree's tracked files, e.g. HEAD), INSTALL_CHECK_DIR (work folder; default a fresh
# temporary one, removed at the end unless INSTALL_CHECK_KEEP=1). pip's cache is used as usual.
set -euo pipefail

REPO="${INSTALL_CHECK_REPO:-$(cd "$(dirname "$0")/.." && pwd)}"
PYTHON="${PYTHON:-python3.12}"
CONSTRAINTS="$(cd "$REPO" && realpath "${CONSTRAINTS:-constraints/py312-pyserini2.4.txt}")"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${INSTALL_CHECK_EXTRAS-qdrant,onnx}"
WORK="${INSTALL_CHECK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/install-check.XXXXXX")}"
mkdir -p "$WORK"
if [ -z "${INSTALL_CHECK_DIR:-}" ] && [ "${INSTALL_CHECK_KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$WORK"' EXIT
fi
# The user's machine, not this repository's: no PYTHONPATH, run from folders outside the checkout.
unset PYTHONPATH PYSERINI_DIFFRETRIEVER_HOOK
export PIP_DISABLE_PIP_VERSION_CHECK=1

START=$SECONDS
step() { printf '\n== install check: %s (%d s)\n' "$1" $((SECONDS - START)); }
fail() { echo "install check FAILED: $*" >&2; exit 1; }
size() { du -sm "$1" | cut -f1; }
# pip, less one warning per package that this machine's pip configuration prints (an
# extra-index-url folder without that package): it would bury the log.
pip_() { local py="$1"; shift; "$py" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

SRC="$WORK/src"
mkdir -p "$SRC"
if [ -n "${INSTALL_CHECK_REF:-}" ]; then
    step "sources: commit $INSTALL_CHECK_REF of $REPO"
    git -C "$REPO" archive "$INSTALL_CHECK_REF" | tar -xf - -C "$SRC"
else
    step "sources: the tracked files of $REPO"
    (cd "$REPO" && git ls-files -z | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$SRC"
fi

step "build: sdist, then the wheel from the sdist"
"$PYTHON" -m venv "$WORK/build-env"
pip_ "$WORK/build-env/bin/python" install --quiet build
T0=$SECONDS
(cd "$SRC" && "$WORK/build-env/bin/python" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1) \
    || { tail -40 "$WORK/build.log"; fail "python -m build"; }
BUILD_S=$((SECONDS - T0))
WHEEL="$(ls "$WORK"/dist/pyserini_diffretriever-*.whl)"
SDIST="$(ls "$WORK"/dist/pyserini_diffretriever-*.tar.gz)"
ls -l "$WHEEL" "$SDIST"
"$PYTHON" - "$WHEEL" "$SDIST" <<'EOF'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
need = ["pyserini_diffretriever_hook.pth", "pyserini_diffretriever/configs/default.yaml",
        "pyserini_diffretriever/configs/models/splade-tiny-scifact/model.safetensors",
        "pyserini_diffretriever/demo/collection/corpus.jsonl", "pyserini_diffretriever/extras.py"]
missing = [n for n in need if n not in names] + [n for n in ("LICENSE",) if not any(x.endswith("licenses/" + n) for x in names)]
assert not missing, f"wheel lacks {missing}"
assert not any(n.startswith(("tests/", "encoders/", "benchmarks/")) for n in names), "wheel holds repository folders"
members = tarfile.open(sdist).getnames()
for n in ("pyproject.toml", "setup.py", "LICENSE", "README.md", "encoders/default.yaml", "constraints/py312-pyserini2.4.txt"):
    assert any(m.endswith("/" + n) for m in members), f"sdist lacks {n}"
print(f"wheel: {len(names)} files; sdist: {len(members)} members")
EOF

step "fresh venv: $TORCH_SPEC, then the wheel with $(basename "$CONSTRAINTS")"
VENV="$WORK/venv"
PY="$VENV/bin/python"
"$PYTHON" -m venv "$VENV"
T0=$SECONDS
# shellcheck disable=SC2086  # TORCH_SPEC may carry pip options (--index-url ...)
pip_ "$PY" install --quiet $TORCH_SPEC
pip_ "$PY" install --quiet -c "$CONSTRAINTS" "$WHEEL"
INSTALL_S=$((SECONDS - T0))
CORE_MB=$(size "$VENV")
"$PY" -m pip check || fail "pip check"
for module in peft scipy qdrant_client onnx; do  # scipy arrives with Pyserini; the others only with extras
    "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" \
        && echo "   (core install has $module)"
done
# A module of an extra that is missing: one clear message naming the pip command
"$PY" -c "
from pyserini_diffretriever.extras import MissingExtraError, require
try:
    require('qdrant_client', 'qdrant')
except MissingExtraError as err:
    assert \"pip install 'pyserini-diffretriever[qdrant]'\" in str(err), err
    print('   missing extra:', err)
else:
    raise SystemExit('qdrant_client importable in the core install')
"

EMPTY="$WORK/empty"
mkdir -p "$EMPTY"
cd "$EMPTY"

step "doctor"
"$PY" -m pyserini_diffretriever.pyserini_bridge.doctor || fail "doctor"

step "python -m pyserini_diffretriever.run --collection demo (from an empty folder)"
T0=$SECONDS
"$PY" -m pyserini_diffretriever.run --collection demo | tee "$WORK/demo.txt"
DEMO_S=$((SECONDS - T0))
grep -qE '^hybrid +[0-9.]+' "$WORK/demo.txt" || fail "no table from run --collection demo"
OUT="$EMPTY/runs/demo/default"
INDEX="$EMPTY/indexes/demo-default"
[ -d "$INDEX/lucene" ] && [ -f "$OUT/topics.test.json" ] || fail "run left no index or topics where expected"

step "stock python -m pyserini.search.lucene --encoder diffretriever-default --impact"
"$PY" -m pyserini.search.lucene --index "$INDEX/lucene" --topics "$OUT/topics.test.json" \
    --encoder diffretriever-default --impact --hits 1000 --output "$WORK/stock.sparse.trec" \
    >"$WORK/stock.log" 2>&1 || { tail -30 "$WORK/stock.log"; fail "stock pyserini.search.lucene"; }
LINES=$(wc -l <"$WORK/stock.sparse.trec")
[ "$LINES" -gt 0 ] || fail "stock search wrote an empty run"
SPARSE_RUN="$(ls "$OUT"/*sparse* 2>/dev/null | grep -v -e '\.json$' -e '\.png$' | head -1 || true)"
if [ -n "$SPARSE_RUN" ]; then
    # same docids and scores in the same order as run's sparse run (the run tag may differ)
    cmp -s <(cut -d' ' -f1-5 "$WORK/stock.sparse.trec") <(cut -d' ' -f1-5 "$SPARSE_RUN") \
        || fail "stock search differs from run's sparse run $SPARSE_RUN"
    echo "   $LINES lines, equal to $(basename "$SPARSE_RUN")"
else
    echo "   $LINES lines (run's sparse run not found in $OUT to compare)"
fi

EXTRAS_S=0
EXTRAS_MB=$CORE_MB
if [ -n "$EXTRAS" ]; then
    step "extras [$EXTRAS] and their quick checks"
    T0=$SECONDS
    pip_ "$PY" install --quiet -c "$CONSTRAINTS" "${WHEEL}[$EXTRAS]"
    EXTRAS_S=$((SECONDS - T0))
    EXTRAS_MB=$(size "$VENV")
    "$PY" -m pip check || fail "pip check after the extras"
    case ",$EXTRAS," in *,onnx,*|*,all,*)
        "$PY" -m pyserini_diffretriever.export.onnx --encoder diffretriever-default --output exports/default
        "$PY" -m pyserini_diffretriever.search.faiss --index "$INDEX/dense" --topics "$OUT/topics.test.tsv" \
            --encoder exports/default --hits 10 --output "$WORK/onnx.dense.trec"
        [ -s "$WORK/onnx.dense.trec" ] || fail "search.faiss with the ONNX export wrote nothing"
        ;;
    esac
    case ",$EXTRAS," in *,qdrant,*|*,all,*)
        "$PY" -m pyserini_diffretriever.export.qdrant --encoded "$INDEX" --collection demo --edge qdrant-edge
        ENCODER=diffretriever-default
        [ -d exports/default ] && ENCODER=exports/default
        "$PY" -m pyserini_diffretriever.search.qdrant --collection demo --edge qdrant-edge \
            --topics "$OUT/topics.test.tsv" --encoder "$ENCODER" --mode all --hits 10 --output "$WORK/qdrant/"
        [ -n "$(ls "$WORK/qdrant")" ] || fail "search.qdrant wrote no run"
        ;;
    esac
fi

step "pip uninstall -y pyserini-diffretriever"
pip_ "$PY" uninstall --quiet -y pyserini-diffretriever
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
LEFT="$(ls "$SITE" | grep -i -e diffretriever || true)"
[ -z "$LEFT" ] || fail "left in site-packages after uninstall: $LEFT"
"$PY" -c "
import importlib.util, sys
finders = [type(f).__name__ for f in sys.meta_path if getattr(f, 'diffretriever_hook', False)]
assert not finders, finders
assert importlib.util.find_spec('pyserini_diffretriever') is None
print('   no .pth, no finder on sys.meta_path, package gone')
"

step "done"
printf 'install check: build %d s; core install %d s, venv %d MB; [%s] %d s more, venv %d MB; demo %d s; total %d s\n' \
    "$BUILD_S" "$INSTALL_S" "$CORE_MB" "$EXTRAS" "$EXTRAS_S" "$EXTRAS_MB" "$DEMO_S" $((SECONDS - START))
