"""lessons/grading.py's messages: what a student reads when a check fails must say what is wrong."""
import numpy as np
import pytest

import lesson_cells  # noqa: F401  (puts lessons/ on the path)
import grading  # noqa: E402  (lessons/grading.py)


def run(capsys, *args, **kwargs) -> str:
    grading.check(*args, seed=0, **kwargs)
    return capsys.readouterr().out


def test_a_generator_that_takes_two_arguments_is_told_which_case_it_draws(capsys):
    seen = []

    def cases(rng, trial):
        seen.append(trial)
        return dict(x=rng.standard_normal(3))

    assert run(capsys, lambda x: x, lambda x: x, cases).startswith("PASS")
    assert seen == [0, 1, 2]
    assert run(capsys, lambda x: x, lambda x: x, lambda rng: dict(x=rng.standard_normal(3))).startswith("PASS")


def test_an_argument_changed_only_by_rounding_gets_a_hint(capsys):
    def restores_by_arithmetic(x):
        x[0] += 1e-4
        x[0] -= 2e-4
        x[0] += 1e-4
        return x.sum()

    def keeps_a_copy(x):
        x[0] += 1
        return x.sum()

    cases = lambda rng: dict(x=np.array([0.2, 0.7, 0.3]))  # noqa: E731  (0.2 + 1e-4 - 2e-4 + 1e-4 != 0.2)
    said = run(capsys, restores_by_arithmetic, lambda x: x.sum(), cases)
    assert "changed its argument 'x' in place, by 2.8e-17 at most: rounding" in said
    assert "keep the old value and put it back" in said
    said = run(capsys, keeps_a_copy, lambda x: x.sum(), cases)
    assert "changed its argument 'x' in place (" in said and "rounding" not in said


def test_a_small_tolerance_shows_enough_digits_to_see_the_difference(capsys):
    said = run(capsys, lambda x: np.float32(x), lambda x: x, lambda rng: dict(x=0.5706160123), rtol=1e-9)
    assert "yours 0.57061600685, expected 0.5706160123" in said


def test_a_list_returned_for_one_array_is_named_a_list(capsys):
    said = run(capsys, lambda x: x.tolist(), lambda x: x.astype(np.float32),
               lambda rng: dict(x=rng.standard_normal((2, 3))), strict=True)
    assert "the output is a list, expected a NumPy array of float32" in said


def test_an_order_that_lists_variables_says_so():
    y = grading.random_graph(np.random.default_rng(0))
    variables = [y]
    assert grading.order_problem(variables, y) == "y is listed: it is a variable, not a function " \
                                                  "(list each variable's .creator)"
    assert grading.order_problem([y.creator, grading.Node("g", inputs=(y,))], y) == \
        "g is listed: it is not one of the functions behind y"


@pytest.mark.parametrize("wrong", [lambda x: x + 1, lambda x: None])
def test_a_wrong_answer_fails(wrong, capsys):
    assert run(capsys, wrong, lambda x: x, lambda rng: dict(x=rng.standard_normal(3))).startswith("FAIL")
