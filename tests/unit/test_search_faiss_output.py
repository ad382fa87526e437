"""search.faiss refuses an --output that names a folder before any work (issue 22: `--output runs/x/`
used to write a file called x after the whole search)."""
from pyserini_diffretriever.search.faiss.__main__ import main


def test_an_output_folder_is_refused_before_any_work(tmp_path, capsys):
    missing_topics = tmp_path / "no-topics.tsv"  # never read: the output is checked first
    for output in (f"{tmp_path}/runs/x/", str(tmp_path)):
        status = main(["--index", str(tmp_path / "no-index"), "--topics", str(missing_topics),
                       "--encoder", "diffretriever-splade-tiny", "--output", output])
        assert status == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith(f"error: {output} ") and "folder" in line and line.endswith(f"{output.rstrip('/')}/run.trec")
    assert not (tmp_path / "runs").exists()
