"""Install time and venv size of the built wheel: the core install and ``[all]``, each in a fresh venv.

    python benchmarks/install_times.py [--python python3.12] [--constraints constraints/py312-pyserini2.4.txt]
        [--torch-spec 'torch==2.13.0'] [--wheel dist/pyserini_diffretriever-*.whl] [--variants core all]

What a pip user does, timed with the clock: a fresh ``python -m venv``, torch first (``--torch-spec``,
as ``make install`` and ``.ci/install_check.sh`` do), then ``pip install -c CONSTRAINTS WHEEL[EXTRAS]``.
Then ``pip check``, ``du`` of the venv (and of torch with its CUDA libraries), the number of installed
distributions, and a quick check: the doctor without the JVM, and for ``[all]`` every optional module
importable. pip's cache is used as usual: run it once before measuring for a warm cache (the JSON says
which). Without ``--wheel`` the wheel is built from the commit HEAD (``git archive``). Each venv is
removed after it is measured.

Writes ``wheel_install`` into benchmarks/results/install_times.json (rows of other Pythons kept),
rendered into docs/installation.md by benchmarks/render_docs.py. Last line: the rows as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "install_times.json"
VARIANTS = {"core": "", "all": "all"}
# One import per extra of [all]: the optional modules the package asks for (extras.MODULE_EXTRAS)
# and matplotlib (analysis); splade-tiny is files, checked by the doctor's weights line.
ALL_MODULES = ("qdrant_client", "qdrant_edge", "onnx", "onnxruntime", "peft", "scipy", "matplotlib", "ray")
QUIET_PIP = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def sh(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, env=QUIET_PIP, **kwargs)


def megabytes(path: Path) -> int:
    return int(subprocess.run(["du", "-sm", str(path)], check=True, capture_output=True, text=True).stdout.split()[0])


def build_wheel(python: str, work: Path) -> Path:
    """The wheel of the commit HEAD, built in a venv of its own (python -m build)."""
    src, env = work / "src", work / "build-env"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    sh([python, "-m", "venv", str(env)])
    sh([str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "build"])
    sh([str(env / "bin" / "python"), "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(src)],
       stdout=subprocess.DEVNULL)
    [wheel] = sorted((work / "dist").glob("pyserini_diffretriever-*.whl"))
    return wheel


def measure(python: str, wheel: Path, variant: str, constraints: Path, torch_spec: str, work: Path) -> dict:
    venv = work / f"venv-{variant}"
    py = str(venv / "bin" / "python")
    sh([python, "-m", "venv", str(venv)])
    started = time.monotonic()
    sh([py, "-m", "pip", "install", "--quiet", *shlex.split(torch_spec)])
    torch_s = time.monotonic() - started
    extras = VARIANTS[variant]
    target = f"{wheel}[{extras}]" if extras else str(wheel)
    sh([py, "-m", "pip", "install", "--quiet", "-c", str(constraints), target])
    total_s = time.monotonic() - started
    sh([py, "-m", "pip", "check"], stdout=subprocess.DEVNULL)
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    torch_parts = [p for p in site.iterdir() if p.name in ("torch", "nvidia", "triton", "functorch")]
    distributions = json.loads(subprocess.run([py, "-m", "pip", "list", "--format=json"], check=True,
                                              capture_output=True, text=True, env=QUIET_PIP).stdout)
    # the quick checks: the doctor's fast part; for [all], every optional module imports
    sh([py, "-m", "pyserini_diffretriever.pyserini_bridge.doctor", "--no-jvm"], stdout=subprocess.DEVNULL,
       cwd=work)
    if variant == "all":
        sh([py, "-c", "import " + ", ".join(ALL_MODULES)], cwd=work)
    row = {"variant": variant, "extras": extras, "torch_s": round(torch_s), "package_s": round(total_s - torch_s),
           "total_s": round(total_s), "venv_mb": megabytes(venv),
           "torch_mb": sum(megabytes(p) for p in torch_parts), "distributions": len(distributions)}
    shutil.rmtree(venv)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="python3.12", help="the interpreter the venvs are made from")
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints" / "py312-pyserini2.4.txt")
    parser.add_argument("--torch-spec", default="torch==2.13.0", help="pip arguments of the torch install")
    parser.add_argument("--wheel", type=Path, help="the wheel to install (default: built from HEAD)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--cache", default="warm", help="what pip's cache held, for the record (warm / cold)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             check=True, capture_output=True, text=True).stdout.strip()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="install-times-") as tmp:
        work = Path(tmp)
        wheel = args.wheel.resolve() if args.wheel else build_wheel(args.python, work)
        rows = []
        for variant in args.variants:
            row = measure(args.python, wheel, variant, args.constraints.resolve(), args.torch_spec, work)
            row.update(python=version, constraints=args.constraints.resolve().relative_to(ROOT).as_posix(),
                       torch_spec=args.torch_spec, wheel=wheel.name, pip_cache=args.cache)
            print(f"{variant}: {row['total_s']} s (torch {row['torch_s']} s), venv {row['venv_mb']} MB "
                  f"(torch and CUDA libraries {row['torch_mb']} MB), {row['distributions']} distributions",
                  flush=True)
            rows.append(row)
    load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    data = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
    section = data.setdefault("wheel_install", {
        "source": "python benchmarks/install_times.py (fresh venvs, torch first, then the wheel with the constraints)",
        "machine": f"this project's {os.cpu_count()}-core machine ({platform.machine()})", "rows": []})
    kept = [r for r in section["rows"] if not (r["python"] == version and r["variant"] in args.variants)]
    for row in rows:
        row["load_average"] = load
    section["rows"] = sorted(kept + rows, key=lambda r: (r["python"], list(VARIANTS).index(r["variant"])))
    args.output.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
