"""The late-interaction field of a Lucene impact index: its name, byte layout, marker file and the
Lucene classes that read and write it.

Lucene 10.3 added ``org.apache.lucene.document.LateInteractionField``: a document's multi-vector
(K_p rows of dim float32) in binary doc values, read back at search time by
``LateInteractionFloatValuesSource`` / ``LateInteractionRescorer`` (SUM_MAX_SIM). Pyserini 2.x
bundles an Anserini fat jar with Lucene 10.5; Pyserini 1.6 bundles Lucene 9.9, which has none
of these classes, so everything here refuses 1.x with one line (:func:`require_late_interaction`)
before any work starts.

Nothing here starts the JVM at import time: :func:`lucene_classes` loads the classes (and so
starts the JVM through Pyserini's class loader) on first use.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import DiffRetrieverError
from ..integrity.manifest import write_json_durably
from ..pyserini_bridge.jvm import ensure_jvm_environment
from ..pyserini_bridge.versions import installed_version

#: The doc-values field that holds each document's vectors.
FIELD = "diffretriever_late_interaction"
#: Anserini's document-id field (``Constants.ID``): a stored, indexed StringField.
ID_FIELD = "id"
#: The marker written inside an index that carries the field (what it holds, how it was made).
MARKER = "diffretriever-late-interaction.json"
#: The similarity of two token vectors: the store's vectors are L2-normalised, so the dot
#: product is MaxSim's inner product.
SIMILARITY = "DOT_PRODUCT"
#: The Lucene major version from which LateInteractionField exists (10.3).
MIN_LUCENE = (10, 3)
BUILD_COMMAND = "python -m pyserini_diffretriever.index.lucene --encoded DIR --index {index} --late-interaction"


class LateInteractionError(DiffRetrieverError, ValueError):
    """A late-interaction index that cannot be built or searched: the Pyserini/Lucene release, a
    missing or mismatched field, vectors of the wrong shape."""


def needs_pyserini_2(found: str) -> LateInteractionError:
    """The one-line error for a Pyserini without Lucene's late-interaction classes."""
    return LateInteractionError(
        f"late interaction (--late-interaction) needs Pyserini 2.x, whose Lucene (>= 10.3) has "
        f"LateInteractionField; this environment has {found}: use the Pyserini 2.x install (Python 3.12)")


def require_late_interaction() -> None:
    """Raise :func:`needs_pyserini_2`'s error unless the installed Pyserini is 2.x or later. Reads
    the installed version only (no JVM start): called before any work."""
    version = installed_version()
    if version is None:
        raise needs_pyserini_2("no Pyserini installed")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    if major < 2:
        raise needs_pyserini_2(f"Pyserini {version}")


_CLASSES: SimpleNamespace | None = None


def lucene_classes() -> SimpleNamespace:
    """The Lucene and Anserini classes used here, loaded once (starts the JVM with the package's
    Java set-up; Pyserini's class loader puts the Anserini fat jar on the class path)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    require_late_interaction()
    ensure_jvm_environment()  # Java 21 and its options, also when the start-up hook is switched off
    from pyserini.pyclass import autoclass  # deferred: starts the JVM

    names = {
        "File": "java.io.File",
        "FSDirectory": "org.apache.lucene.store.FSDirectory",
        "DirectoryReader": "org.apache.lucene.index.DirectoryReader",
        "IndexWriter": "org.apache.lucene.index.IndexWriter",
        "IndexWriterConfig": "org.apache.lucene.index.IndexWriterConfig",
        "OpenMode": "org.apache.lucene.index.IndexWriterConfig$OpenMode",
        "NoMergePolicy": "org.apache.lucene.index.NoMergePolicy",
        "Term": "org.apache.lucene.index.Term",
        "Document": "org.apache.lucene.document.Document",
        "StringField": "org.apache.lucene.document.StringField",
        "Store": "org.apache.lucene.document.Field$Store",
        "BytesRef": "org.apache.lucene.util.BytesRef",
        "IndexSearcher": "org.apache.lucene.search.IndexSearcher",
        "FieldExistsQuery": "org.apache.lucene.search.FieldExistsQuery",
        "TermQuery": "org.apache.lucene.search.TermQuery",
        "VectorSimilarityFunction": "org.apache.lucene.index.VectorSimilarityFunction",
        "LateInteractionField": "org.apache.lucene.document.LateInteractionField",
        "LateInteractionRescorer": "org.apache.lucene.search.LateInteractionRescorer",
        "Version": "org.apache.lucene.util.Version",
        "SimpleImpactSearcher": "io.anserini.search.SimpleImpactSearcher",
        "ScoredDocs": "io.anserini.search.ScoredDocs",
        "Sort": "org.apache.lucene.search.Sort",
        "SortField": "org.apache.lucene.search.SortField",
        "SortFieldType": "org.apache.lucene.search.SortField$Type",
        "Float": "java.lang.Float",
        "HashMap": "java.util.HashMap",
    }
    loaded = {}
    for key, name in names.items():
        try:
            loaded[key] = autoclass(name)
        except Exception as err:  # jnius raises JavaException/JavaClassNotFound: a jar without the class
            if key.startswith("LateInteraction"):
                raise needs_pyserini_2(f"a Lucene without {name}") from err
            raise
    _CLASSES = SimpleNamespace(**loaded)
    return _CLASSES


def lucene_version() -> str:
    """The version of the Lucene on the class path (``10.5.0``)."""
    return str(lucene_classes().Version.LATEST.toString())


def encode_vectors(vectors: np.ndarray) -> bytes:
    """A document's vectors ``[K_p, dim]`` in LateInteractionField's byte layout: the dimension as a
    little-endian int32, then the rows as little-endian float32. Written here with numpy (one
    conversion per document instead of passing a float[][] through the JVM bridge);
    :func:`check_layout` proves it equal to ``LateInteractionField.encode`` when an index is built."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    if vectors.ndim != 2 or vectors.shape[0] < 1 or vectors.shape[1] < 1:
        raise LateInteractionError(f"a document's vectors have shape {vectors.shape}; expected [K_p >= 1, dim >= 1]")
    return np.int32(vectors.shape[1]).astype("<i4").tobytes() + vectors.tobytes()


def java_matrix(vectors: np.ndarray) -> list[list[float]]:
    """``vectors [k, dim]`` as nested lists, which the JVM bridge turns into a Java float[][]."""
    return np.asarray(vectors, dtype=np.float32).tolist()


def check_layout(vectors: np.ndarray) -> None:
    """Compare :func:`encode_vectors` with Lucene's own ``LateInteractionField.encode`` on one
    document; a Lucene whose layout changed is refused before anything is written."""
    classes = lucene_classes()
    ref = classes.LateInteractionField.encode(java_matrix(vectors))
    lucene = bytes(bytearray((b & 0xFF) for b in ref.bytes[ref.offset:ref.offset + ref.length]))
    if lucene != encode_vectors(vectors):
        raise LateInteractionError(f"LateInteractionField.encode of Lucene {lucene_version()} does not give the "
                                   f"layout this package writes (int32 dim + float32 rows, little-endian)")


def read_marker(index: str | Path) -> dict | None:
    """The late-interaction marker of ``index`` (None when the index carries no such field)."""
    path = Path(index) / MARKER
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise LateInteractionError(f"{path} cannot be read ({err}): rebuild with "
                                   f"{BUILD_COMMAND.format(index=index)}") from None
    if not isinstance(value, dict) or not isinstance(value.get("dim"), int):
        raise LateInteractionError(f"{path} is not a late-interaction marker: rebuild with "
                                   f"{BUILD_COMMAND.format(index=index)}")
    return value


def write_marker(index: Path, marker: dict) -> Path:
    """Write ``marker`` into ``index`` atomically and durably."""
    path = index / MARKER
    write_json_durably(path, marker)
    return path


__all__ = ["BUILD_COMMAND", "FIELD", "ID_FIELD", "LateInteractionError", "MARKER", "MIN_LUCENE", "SIMILARITY",
           "check_layout", "encode_vectors", "java_matrix", "lucene_classes", "lucene_version", "needs_pyserini_2",
           "read_marker", "require_late_interaction", "write_marker"]
