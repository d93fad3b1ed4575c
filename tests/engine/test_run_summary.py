"""The run summary flags a finished run whose results lie far from TEST.EXPECTED.RESULTS."""
import logging
from types import SimpleNamespace

import pytest

from partreid.config import get_cfg
from partreid.config.config import check_config
from partreid.engine import hooks
from partreid.evaluation import flatten_results
from partreid.utils.errors import ConfigError

RESULTS = {"sysu_all_single": {"Rank-1": 30.0, "mAP": 33.0, "draw": "agw_seeded"},
           "extra": {"mean_purity": 0.45}}


def summary(expected, tolerance=3.0):
    return hooks.RunSummary(SimpleNamespace(last_results=RESULTS, last_iter=500), SimpleNamespace(best_value=None),
                            32, "", flatten=flatten_results, expected=expected, measured_on="3 seeds, test CPU",
                            tolerance_std=tolerance)


def test_values_within_the_tolerance_pass_and_far_ones_are_flagged():
    rows, warnings = summary([["sysu_all_single/Rank-1", 31.0, 1.0], ["extra/mean_purity", 0.45, 0.01],
                              ["sysu_all_single/mAP", 40.0, 2.0]]).compare_with_expected(RESULTS)
    assert rows[0] == ("expected sysu_all_single/Rank-1", "31.00 ± 1.00 (3 seeds, test CPU): 30.00 is within")
    assert rows[1][1].endswith("0.45 is within")
    assert rows[2][1].endswith("33.00 is OUTSIDE (3.5 std away)")
    assert len(warnings) == 1 and "sysu_all_single/mAP 33.00 is 3.5 standard deviations" in warnings[0]


def test_a_metric_the_evaluation_does_not_report_is_named():
    rows, warnings = summary([["sysu_all_single/Rank-5", 50.0, 1.0]]).compare_with_expected(RESULTS)
    assert rows == [] and "'sysu_all_single/Rank-5', which the evaluation does not report" in warnings[0]
    assert "sysu_all_single/Rank-1" in warnings[0] and "draw" not in warnings[0]


def test_nothing_expected_nothing_compared():
    assert summary([]).compare_with_expected(RESULTS) == ([], [])


def test_the_summary_of_a_finished_run_carries_the_verdict(caplog):
    hook = summary([["sysu_all_single/Rank-1", 60.0, 2.0]])
    hook.trainer = SimpleNamespace(iterations_done=500, start_iter=0, max_iter=500)
    hook.before_train()
    with caplog.at_level(logging.INFO, logger="partreid.engine.hooks"):
        hook.after_train()
    assert "30.00 is OUTSIDE (15.0 std away)" in caplog.text
    assert any(r.levelno == logging.WARNING and "standard deviations" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("entry", [["Rank-1", 30.0], ["Rank-1", "30", 1.0], ["Rank-1", 30.0, -1.0], "Rank-1"])
def test_malformed_entries_are_refused_naming_the_key(entry):
    cfg = get_cfg()
    cfg.TEST.EXPECTED.RESULTS = [entry]
    with pytest.raises(ConfigError, match="TEST.EXPECTED.RESULTS"):
        check_config(cfg)
