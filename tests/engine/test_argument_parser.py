"""tools/train_net.py's parser: flags may come before, between or after the KEY VALUE overrides."""
import pytest

from partreid.engine import default_argument_parser


@pytest.mark.parametrize("argv", [
    ["--config-file", "c.yaml", "--resume", "SOLVER.BASE_LR", "-1e-4", "TEST.EVAL_PERIOD", "2"],
    ["--config-file", "c.yaml", "SOLVER.BASE_LR", "-1e-4", "--resume", "TEST.EVAL_PERIOD", "2"],
    ["SOLVER.BASE_LR", "-1e-4", "TEST.EVAL_PERIOD", "2", "--resume", "--config-file=c.yaml"],
])
def test_flags_anywhere_overrides_in_order(argv):
    args = default_argument_parser().parse_args(argv)
    assert args.config_file == "c.yaml" and args.resume and not args.eval_only
    assert args.opts == ["SOLVER.BASE_LR", "-1e-4", "TEST.EVAL_PERIOD", "2"]


def test_flag_values_are_not_overrides():
    args = default_argument_parser().parse_args(["--config-file", "c.yaml", "A.B", "1", "--num-gpus", "2"])
    assert args.num_gpus == 2 and args.opts == ["A.B", "1"]


def test_a_mistyped_flag_is_an_error_that_lists_the_flags(capsys):
    with pytest.raises(SystemExit):
        default_argument_parser().parse_args(["--config-file", "c.yaml", "A.B", "1", "--resum"])
    err = capsys.readouterr().err
    assert "unknown flag --resum" in err and "--resume" in err
