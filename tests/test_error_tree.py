from __future__ import annotations

from opsbook.errors import ConfigError, DeliveryError, InputError, OpsbookError, Problem


def test_problem_renders_file_line_column_path_message() -> None:
    problem = Problem("opsbook.yaml", 14, 12, "checks.api.every", "'30x' is not a duration")
    assert str(problem) == "opsbook.yaml:14:12: checks.api.every: '30x' is not a duration"
    assert str(Problem("opsbook.yaml", 0, 0, "", "no such file")) == "opsbook.yaml: no such file"


def test_config_error_keeps_every_problem_and_exits_2() -> None:
    problems = [Problem("a.yaml", 1, 1, "x", "bad"), Problem("a.yaml", 2, 1, "y", "worse")]
    error = ConfigError(problems)
    assert error.problems == tuple(problems)
    assert str(error) == "a.yaml:1:1: x: bad\na.yaml:2:1: y: worse"
    assert error.exit_code == 2
    assert isinstance(error, OpsbookError)


def test_input_error_names_its_field() -> None:
    error = InputError("must be a URL", field="body.url")
    assert (error.field, error.exit_code, str(error)) == ("body.url", 2, "must be a URL")


def test_delivery_error_is_transient_unless_told() -> None:
    assert DeliveryError("503").permanent is False
    assert DeliveryError("404", permanent=True).permanent is True
