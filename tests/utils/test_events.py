"""metrics.json, as the JSONWriter writes it and every tool reads it back."""
import pytest

from partreid.utils.events import read_metrics


def test_read_metrics_tolerates_a_cut_last_line_and_names_bad_lines(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"iteration": 0, "lr": 1}\n{"iteration": 1, "lr"')
    assert read_metrics(str(path)) == [{"iteration": 0, "lr": 1}]
    path.write_text('{"iteration": 0}\nnot json\n{"iteration": 2}\n')
    with pytest.raises(ValueError, match=r"metrics.json, line 2"):
        read_metrics(str(path))
    with pytest.raises(FileNotFoundError, match="OUTPUT_DIR/metrics.json"):
        read_metrics(str(tmp_path / "missing.json"))
