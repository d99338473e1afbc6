"""Checkpoints: a lossless round trip, atomic writes, model rebuilding, clear errors."""
import numpy as np
import pytest
from training_helpers import ArrayLoader, tiny_alexnet, toy_images

from tinyalex.engine.tensor import no_grad
from tinyalex.optim import MomentumSGD
from tinyalex.training import CheckpointError, Trainer, load_checkpoint, load_model
from tinyalex.training.checkpoint import dropout_states, load_dropout_states, save_checkpoint


@pytest.fixture
def trained(tmp_path):
    """A trainer after one epoch, with its checkpoint written."""
    model = tiny_alexnet()
    x, y = toy_images(32)
    trainer = Trainer(model, MomentumSGD(model.parameters()), tmp_path, quiet=True,
                      data_info={"wnids": ["a", "b", "c", "d"]}, mean=np.full((36, 36, 3), 7.0))
    trainer.fit(ArrayLoader(x, y, 16), ArrayLoader(x, y, 16, shuffle=False), 1)
    return trainer, tmp_path / "last.npz"


def test_round_trip_keeps_every_piece_of_state(trained):
    trainer, path = trained
    saved = load_checkpoint(path)
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(saved["model"][name], value)
    velocities = trainer.optimizer.state_dict()["velocities"]
    assert set(saved["velocities"]) == set(velocities) and len(velocities) == 16
    for i, v in velocities.items():
        np.testing.assert_array_equal(saved["velocities"][i], v)
    meta = saved["meta"]
    assert meta["dropout_rng"] == dropout_states(trainer.model) and set(meta["dropout_rng"]) == {"drop6", "drop7"}
    assert meta["data"] == {"wnids": ["a", "b", "c", "d"]} and meta["optimizer"]["groups"][0]["lr"] == 0.01
    assert saved["mean"].dtype == np.float32 and saved["mean"][0, 0, 0] == 7.0


def test_restored_dropout_layers_draw_the_same_masks(trained):
    trainer, path = trained
    other = tiny_alexnet(seed=9)
    assert other.drop6.seed != trainer.model.drop6.seed
    load_dropout_states(other, load_checkpoint(path)["meta"]["dropout_rng"])
    assert other.drop6.step == trainer.model.drop6.step == 2  # one mask per training step: 32 images, batches of 16
    x = np.ones((4, 8), np.float32)
    np.testing.assert_array_equal(trainer.model.drop6(x).data, other.drop6(x).data)
    np.testing.assert_array_equal(trainer.model.drop7(x).data, other.drop7(x).data)


def test_a_checkpoint_with_generator_states_says_it_cannot_resume_exactly(trained):
    trainer, path = trained
    old = {name: {"bit_generator": "PCG64", "state": {"state": 1, "inc": 2}, "has_uint32": 0, "uinteger": 0}
           for name in ("drop6", "drop7")}
    with pytest.raises(CheckpointError, match="older tinyalex whose masks came from another generator"):
        load_dropout_states(tiny_alexnet(), old)


def test_load_model_rebuilds_the_same_network_in_eval_mode(trained):
    trainer, path = trained
    model, _ = load_model(path)
    x, _ = toy_images(4)
    trainer.model.eval()
    with no_grad():
        np.testing.assert_array_equal(model(x).data, trainer.model(x).data)
    assert not model.training


def test_a_failed_write_leaves_the_previous_checkpoint_intact(trained, monkeypatch):
    trainer, path = trained
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save(path)
    assert path.read_bytes() == before


def test_bad_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a tinyalex checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array('{"format": "something-else"}'))
    with pytest.raises(CheckpointError, match="expected 'tinyalex-checkpoint-v1'"):
        load_checkpoint(other)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    model = tiny_alexnet()
    state = model.state_dict()
    state["fc8.bias"] = np.zeros(3, np.float32)
    path = save_checkpoint(tmp_path / "bad.npz", state, {}, {"model": model.config, "epoch": 0})
    with pytest.raises(CheckpointError, match="fc8.bias"):
        load_model(path)
