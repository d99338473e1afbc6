"""curves.png: the loss on a log scale, and every learning-rate change marked where it took effect."""
from tinyalex.training.plots import history_figure, lr_changes, plot_history


def records(lrs):
    return [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e, "train_accuracy": 0.1 * e,
             "top1_error": 1 - 0.1 * e, "top5_error": 0.5 - 0.05 * e, "lr": lr} for e, lr in enumerate(lrs, 1)]


def dashed_marks(ax):
    return [float(line.get_xdata()[0]) for line in ax.lines if line.get_linestyle() == "--"]


def test_loss_is_on_a_log_scale_and_learning_rate_changes_are_marked():
    history = records([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert lr_changes(history) == [(3, 0.001), (5, 0.0001)]
    left, right = history_figure(history).axes
    assert left.get_yscale() == "log" and right.get_yscale() == "linear"
    for ax in (left, right):
        assert dashed_marks(ax) == [2.5, 4.5]  # between the last epoch at the old rate and the first at the new
        assert [t.get_text() for t in ax.texts] == ["lr 0.001", "lr 0.0001"]
        assert len({t.xyann[1] for t in ax.texts}) == 2  # two epochs apart, at one height they overlapped


def test_a_constant_learning_rate_draws_no_marks(tmp_path):
    history = records([0.01] * 3)
    assert lr_changes(history) == []
    assert all(dashed_marks(ax) == [] and not ax.texts for ax in history_figure(history).axes)
    path = plot_history(history, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob(".*.tmp"))
