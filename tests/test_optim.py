"""MomentumSGD against the paper's rule computed by hand, and the plateau schedule's decisions."""
import numpy as np
import pytest

from tinyalex.layers import Parameter
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau


def test_two_steps_follow_the_papers_rule_by_hand(xp):
    w = Parameter(xp.asarray(np.array([1.0, -2.0], np.float32)))
    opt = MomentumSGD([w], lr=0.1, momentum=0.9, weight_decay=0.01)
    w.grad = xp.asarray(np.array([0.5, 0.25], np.float32))
    opt.step()
    # v1 = 0.9*0 - 0.01*0.1*w0 - 0.1*g = [-0.001 - 0.05, 0.002 - 0.025] = [-0.051, -0.023]; w1 = w0 + v1
    np.testing.assert_allclose(np.asarray(w.numpy()), [0.949, -2.023], rtol=1e-6)
    w.grad = xp.asarray(np.array([-1.0, 2.0], np.float32))
    opt.step()
    # v2 = 0.9*v1 - 0.001*w1 - 0.1*g2
    #    = [-0.0459 - 0.000949 + 0.1, -0.0207 + 0.002023 - 0.2] = [0.053151, -0.218677]
    np.testing.assert_allclose(np.asarray(w.numpy()), [0.949 + 0.053151, -2.023 - 0.218677], rtol=1e-6)


def test_update_is_in_place_and_reuses_buffers():
    w = Parameter(np.ones(4, np.float32))
    data = w.data
    opt = MomentumSGD([w])
    w.grad = np.ones(4, np.float32)
    opt.step()
    v = opt.velocities[id(w)]
    w.grad = np.ones(4, np.float32)
    opt.step()
    assert w.data is data and opt.velocities[id(w)] is v


def test_parameter_groups_override_defaults():
    w, b = Parameter(np.ones(1, np.float32)), Parameter(np.ones(1, np.float32))
    opt = MomentumSGD([{"params": [w]}, {"params": [b], "weight_decay": 0.0}], lr=0.1, weight_decay=0.5)
    w.grad = b.grad = np.zeros(1, np.float32)
    opt.step()
    assert w.data[0] == pytest.approx(1 - 0.5 * 0.1) and b.data[0] == 1.0
    with pytest.raises(ValueError, match="unknown parameter-group keys"):
        MomentumSGD([{"params": [w], "nesterov": True}])


def test_parameters_without_gradient_are_left_alone():
    w = Parameter(np.ones(2, np.float32))
    MomentumSGD([w]).step()
    np.testing.assert_array_equal(w.data, [1, 1])


def test_state_dict_round_trip_continues_identically():
    def run(opt, w, grads):
        for g in grads:
            w.grad = g.copy()
            opt.step()
        return w.data.copy()

    grads = [np.array([0.3, -0.7], np.float32), np.array([1.0, 0.2], np.float32)]
    w = Parameter(np.array([1.0, 2.0], np.float32))
    opt = MomentumSGD([w], lr=0.05)
    run(opt, w, grads[:1])
    saved_w, saved = w.data.copy(), opt.state_dict()
    expected = run(opt, w, grads[1:])
    w2 = Parameter(saved_w)
    opt2 = MomentumSGD([w2], lr=0.9)
    opt2.load_state_dict(saved)
    assert opt2.lr == 0.05
    np.testing.assert_array_equal(run(opt2, w2, grads[1:]), expected)


def _schedule(**kwargs):
    opt = MomentumSGD([Parameter(np.zeros(1, np.float32))], lr=0.01)
    return opt, ReduceLROnPlateau(opt, **kwargs)


def test_schedule_divides_by_ten_after_patience_epochs_without_improvement():
    opt, sched = _schedule(patience=2)
    assert [sched.step(e) for e in (0.5, 0.4, 0.45)] == [False, False, False]
    assert opt.lr == 0.01
    assert sched.step(0.4) is True  # equal to the best is not an improvement: second bad epoch
    assert opt.lr == pytest.approx(0.001)
    assert sched.step(0.3) is False and sched.bad_epochs == 0  # improvement resets the count


def test_schedule_stops_after_three_reductions():
    opt, sched = _schedule(patience=1, max_reductions=3)
    sched.step(0.5)
    decisions = [sched.step(0.5) for _ in range(3)]
    assert decisions == [True, True, True] and opt.lr == pytest.approx(1e-5) and not sched.stop
    assert sched.step(0.5) is False and sched.stop
    assert opt.lr == pytest.approx(1e-5)


def test_schedule_floor_and_state_round_trip():
    opt, sched = _schedule(patience=1, min_lr=0.005, max_reductions=None)
    sched.step(1.0)
    assert sched.step(1.0) and opt.lr == 0.005
    assert not sched.step(1.0) and sched.stop  # at the floor: nothing left to reduce
    _, other = _schedule()
    other.load_state_dict(sched.state_dict())
    assert other.state_dict() == sched.state_dict()
