"""Input validation of the readers (issue 22, deliverable 3): query ids, TSV header lines, empty
query texts, document fields of the wrong type, NaN/inf run scores, and the argparse range checks
of ``cli``. Each case here was accepted (or crashed) before the check existed."""
import argparse
import json

import pytest

from pyserini_diffretriever.cli import non_negative_int, positive_float, positive_int, unit_interval
from pyserini_diffretriever.corpus import CorpusError, corpus_fingerprint, read_documents
from pyserini_diffretriever.topics import (TopicsError, beir_split, empty_queries, empty_query_note,
                                           read_beir_queries, read_json_topics, read_topics, read_tsv_topics)
from pyserini_diffretriever.trec import RunError, RunWriter, check_run_path, read_run, remove_query_hits, write_run


# ---- query ids
@pytest.mark.parametrize("qid", ["q 1", "q\u00a01", "q\x0b1"])
def test_a_tsv_query_id_with_whitespace_is_refused_with_file_and_line(tmp_path, qid):
    path = tmp_path / "topics.tsv"
    path.write_text(f"q0\tfine\n{qid}\tprotein folding\n", encoding="utf-8")
    with pytest.raises(TopicsError, match=r"topics.tsv:2: query id .* contains whitespace"):
        read_tsv_topics(path)


def test_a_beir_query_id_with_whitespace_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "1", "text": "a"}\n\n{"_id": "2 b", "text": "b"}\n')
    with pytest.raises(TopicsError, match=r"queries.jsonl:3: query id '2 b' contains whitespace"):
        read_beir_queries(path)


def test_a_json_topics_query_id_with_whitespace_is_refused(tmp_path):
    path = tmp_path / "topics.json"
    path.write_text(json.dumps({"1": {"title": "a"}, "2\tx": {"title": "b"}}))
    with pytest.raises(TopicsError, match=r"topics.json: query id '2\\tx' contains whitespace"):
        read_json_topics(path)


@pytest.mark.parametrize("line", ["\tno id\n", "   \tno id\n"])
def test_an_empty_tsv_query_id_is_refused(tmp_path, line):
    path = tmp_path / "topics.tsv"
    path.write_text("q1\ta\n" + line)
    with pytest.raises(TopicsError, match=r"topics.tsv:2: empty query id"):
        read_tsv_topics(path)


def test_duplicate_query_ids_are_refused_with_both_lines(tmp_path):
    tsv = tmp_path / "topics.tsv"
    tsv.write_text("q1\tfirst\nq2\tsecond\n\nq1\tagain\n")
    with pytest.raises(TopicsError, match=r"topics.tsv:4: query id 'q1' already seen at .*topics.tsv:1"):
        read_tsv_topics(tsv)
    jsonl = tmp_path / "queries.jsonl"
    jsonl.write_text('{"_id": "7", "text": "a"}\n{"_id": 8, "text": "b"}\n{"_id": 7, "text": "c"}\n')
    with pytest.raises(TopicsError, match=r"queries.jsonl:3: query id '7' already seen at .*queries.jsonl:1"):
        read_beir_queries(jsonl)
    js = tmp_path / "topics.json"
    js.write_text('{"1": {"title": "a"}, "2": {"title": "b"}, "1": {"title": "c"}}')
    with pytest.raises(TopicsError, match=r"topics.json: query id '1' appears twice"):
        read_json_topics(js)


def test_duplicates_in_queries_jsonl_stop_beir_split(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n")
    (tmp_path / "queries.jsonl").write_text('{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n')
    with pytest.raises(TopicsError, match=r"queries.jsonl:2: query id '1' already seen"):
        beir_split(tmp_path, "test")


@pytest.mark.parametrize("header", ["query-id\ttext", "qid\tquery", "id\ttext", "_id\ttext", "query_id\tquery text",
                                    "QID\tQuery"])
def test_a_tsv_header_line_is_refused_with_what_to_do(tmp_path, header):
    path = tmp_path / "topics.tsv"
    path.write_text(f"{header}\n1\tprotein folding\n2\tdna repair\n")
    with pytest.raises(TopicsError, match=r"topics.tsv:1: .* header line, and topics files have no header") as err:
        read_topics(path)
    assert str(err.value).endswith(f"tail -n +2 {path} > {tmp_path / 'topics.noheader.tsv'}")  # never onto itself


def test_a_first_query_that_only_looks_like_a_header_word_is_kept(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text("id\twhat does the id gene do\nqid\ttext mining\n")
    assert read_tsv_topics(path) == {"id": "what does the id gene do", "qid": "text mining"}


@pytest.mark.parametrize("line, kind", [('{"_id": "1", "text": 12345}', "int"), ('{"_id": "1", "text": ["a"]}', "list"),
                                        ('{"_id": "1", "text": null}', "NoneType"),
                                        ('{"_id": [1], "text": "a"}', "list"), ('{"_id": 1.5, "text": "a"}', "float"),
                                        ('{"_id": true, "text": "a"}', "bool")])
def test_beir_query_fields_of_the_wrong_type_are_refused(tmp_path, line, kind):
    path = tmp_path / "queries.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(TopicsError, match=rf"queries.jsonl:1: .* is {kind}, expected a string"):
        read_beir_queries(path)


def test_json_topics_title_of_the_wrong_type_is_refused(tmp_path):
    path = tmp_path / "topics.json"
    path.write_text('{"1": {"title": 5}}')
    with pytest.raises(TopicsError, match=r"topics.json: the title of query '1' is int, expected a string"):
        read_json_topics(path)


def test_integer_query_ids_still_read_as_text(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": 3, "text": "a"}\n{"_id": "04", "text": "b"}\n')
    assert read_beir_queries(path) == {"3": "a", "04": "b"}


# ---- empty query texts: counted; the caller reports them once
def test_empty_query_texts_are_counted_and_described_once(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text("q1\tprotein\nq2\t\nq3\t   \nq4\tdna\n")
    topics = read_tsv_topics(path)
    assert topics == {"q1": "protein", "q2": "", "q3": "   ", "q4": "dna"}  # still searched, as before
    assert empty_queries(topics) == ["q2", "q3"]
    note = empty_query_note(topics, path)
    assert note.startswith(f"2 of 4 queries in {path} have an empty text (q2, q3)") and "\n" not in note
    assert empty_query_note({"a": "x"}, path) is None
    many = {f"q{i}": "" for i in range(12)}
    assert "q0, q1, q2, q3, q4, ..." in empty_query_note(many, "t.tsv")


# ---- documents: fields of the wrong type
@pytest.mark.parametrize("line, message", [
    ('{"_id": "1", "title": "t", "text": 12345}', r"the \"text\" field of '1' is int, expected a string"),
    ('{"_id": "1", "title": ["a", "b"], "text": "x"}', r"the \"title\" field of '1' is list, expected a string"),
    ('{"_id": "1", "title": {"a": 1}, "text": "x"}', r"the \"title\" field of '1' is dict, expected a string"),
    ('{"id": 1.0, "contents": "x"}', r"document id 1.0 is float, expected a string"),
    ('{"id": ["1"], "contents": "x"}', r"document id \['1'\] is list, expected a string"),
    ('{"id": true, "contents": "x"}', r"document id True is bool, expected a string"),
    ('{"_id": {"a": 1}, "text": "x"}', r"document id \{'a': 1\} is dict, expected a string"),
])
def test_document_fields_of_the_wrong_type_are_refused_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "0", "text": "fine"}\n' + line + "\n")
    with pytest.raises(CorpusError, match=r"corpus.jsonl:2: " + message):
        list(read_documents(path))
    with pytest.raises(CorpusError, match=r"corpus.jsonl:2: " + message):  # the fingerprint reads the same way
        corpus_fingerprint(path)


def test_null_titles_and_integer_ids_are_still_documents(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": 7, "title": null, "text": "x"}\n{"_id": "8", "title": "t", "text": null}\n')
    assert [(d.docid, d.text) for d in read_documents(path)] == [("7", "x"), ("8", "t")]


# ---- runs
@pytest.mark.parametrize("score", ["nan", "NaN", "inf", "-inf", "Infinity", "-infinity"])
def test_nan_and_inf_scores_are_refused_with_file_and_line(tmp_path, score):
    path = tmp_path / "r.trec"
    path.write_text(f"q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 {score} t\n")
    with pytest.raises(RunError, match=rf"r.trec:2: score {score!r} is not a finite number"):
        read_run(path)
    with pytest.raises(RunError, match=rf"r.trec:2: score {score!r} is not a finite number"):
        remove_query_hits(path, tmp_path / "out.trec", hits=10)


def test_query_ids_and_docids_with_whitespace_cannot_be_read_back_or_written(tmp_path):
    path = tmp_path / "r.trec"
    path.write_text("q 1 Q0 d1 1 2.0 t\n")  # what a whitespace query id made search.faiss write
    with pytest.raises(RunError, match=r"r.trec:1: expected 'qid Q0 docid rank score tag', got 7 fields"):
        read_run(path)
    for qid, docid in [("q 1", "d1"), ("", "d1"), ("q1", "d 1"), ("q1", "")]:
        with pytest.raises(RunError, match=r"(query|document) id .* (contains whitespace|is empty)"):
            write_run({qid: {docid: 1.0}}, tmp_path / "w.trec", "t")
    assert not (tmp_path / "w.trec").exists()


@pytest.mark.parametrize("suffix", ["/", ""])
def test_a_folder_is_not_a_run_file(tmp_path, suffix):
    (tmp_path / "runs").mkdir()
    target = f"{tmp_path / 'runs'}{suffix}"
    with pytest.raises(RunError, match=r"is a folder; give the run file's path"):
        check_run_path(target)
    with pytest.raises(RunError, match=r"is a folder"):
        RunWriter(target)
    with pytest.raises(RunError, match=r"names a folder .*ends in '/'"):
        check_run_path(f"{tmp_path / 'new'}/")
    check_run_path(tmp_path / "runs" / "x.trec")  # a file in a folder that exists, or not yet
    check_run_path(tmp_path / "later" / "x.trec")


# ---- argparse range checks
def parse(kind, value):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--x", type=kind)
    return parser.parse_args(["--x", value]).x


@pytest.mark.parametrize("kind, good, bad", [
    (positive_int, {"1": 1, "1000": 1000, " 7": 7}, ["0", "-3", "1.5", "x", ""]),
    (non_negative_int, {"0": 0, "5": 5}, ["-1", "2.0", "nan"]),
    (positive_float, {"0.5": 0.5, "60": 60.0, "1e-3": 1e-3}, ["0", "-1", "nan", "inf", "x"]),
    (unit_interval, {"0": 0.0, "1": 1.0, "0.25": 0.25}, ["-0.1", "1.01", "nan", "inf", "x"]),
])
def test_range_checks_give_argparse_one_line_error(kind, good, bad, capsys):
    for text, value in good.items():
        assert parse(kind, text) == value
    for text in bad:
        with pytest.raises(SystemExit) as exit_:
            parse(kind, text)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.splitlines()
        assert err[-1].startswith("p: error: argument --x: ") and repr(text) in err[-1], err
