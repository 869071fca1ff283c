import pytest

from selgen.io import InputError, atomic_path, read_jsonl, write_jsonl


def test_malformed_row_names_file_and_line(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"messages": []}\n\n{"messages": [}\n')
    with pytest.raises(InputError, match=r"rows\.jsonl, line 3: not valid JSON"):
        read_jsonl(p)


def test_missing_field_names_line_and_field(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"messages": []}\n{"label": "x"}\n')
    with pytest.raises(InputError, match=r"line 2: missing field\(s\) 'messages'"):
        read_jsonl(p, required=["messages"])


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_jsonl(target, [{"a": 1}])
    assert read_jsonl(target) == [{"a": 1}]
