"""Shipped-model plumbing with tiny models: names resolve, packing shares the generator
(float16 encoder, exact generator), and every failure is a one-line error."""

from __future__ import annotations

import json

import pytest
import torch

from p2s import zoo
from p2s.apis.checkpoint import read_translation_checkpoint
from p2s.apis.translator import Translator
from p2s.utils.checkpoint import atomic_torch_save, load_checkpoint_file
from p2s.utils.errors import MissingWeightsError, P2SError
from p2s.zoo import pack as zoo_pack


@pytest.fixture()
def tiny_zoo(tmp_path, monkeypatch, tiny):
    """An empty catalogue in tmp_path, plus a tiny trained checkpoint and its generator file."""
    weights = tmp_path / "weights"
    weights.mkdir()
    catalogue = tmp_path / "catalogue.json"
    for module in (zoo, zoo_pack):
        monkeypatch.setattr(module, "WEIGHTS_DIR", weights)
        monkeypatch.setattr(module, "CATALOGUE", catalogue)
    zoo.catalogue.cache_clear()
    yield tmp_path
    zoo.catalogue.cache_clear()


def _tiny_files(tiny, folder):
    from p2s.apis.checkpoint import save_translation_checkpoint

    model = tiny.build_tiny_model(3, seed=5)
    trained = folder / "trained.pth"
    save_translation_checkpoint(trained, model, tiny.tiny_model_cfg(3), dict(type="Inversion"))
    generator = folder / "gen.pt"
    atomic_torch_save({"g_ema": model.decoder.state_dict(), "latent_avg": model.latent_avg[0].clone()}, generator)
    return model, trained, generator


def test_pack_shares_the_generator_and_translates_like_the_original(tiny, tiny_zoo):
    model, trained, generator = _tiny_files(tiny, tiny_zoo)
    zoo_pack.pack_generator(generator, zoo.WEIGHTS_DIR / "tiny-generator.pt")
    zoo_pack.register("tiny-generator", "tiny-generator.pt", "generator")
    packed = zoo.WEIGHTS_DIR / "tiny-inversion.pt"
    assert zoo_pack.pack_translation(trained, packed, "tiny-generator") == {}  # no MMEngine meta in this file
    zoo_pack.register("tiny-inversion", packed.name, "translation", task="Inversion",
                      data=dict(source="images", target="images"))

    raw = torch.load(packed, weights_only=True)
    assert not any(k.startswith("decoder.") for k in raw["state_dict"])
    assert {v.dtype for k, v in raw["state_dict"].items() if k.startswith("encoder.") and v.is_floating_point()} == {
        torch.float16}
    assert raw["p2s"]["shared_weights"] == {"decoder.": {"file": "tiny-generator", "key": "g_ema",
                                                         "sha256": zoo.sha256(zoo.WEIGHTS_DIR / "tiny-generator.pt")}}
    entry = json.loads(zoo.CATALOGUE.read_text())["tiny-inversion"]
    assert entry["sha256"] == zoo_pack.sha256(packed) and entry["data"]["source"] == "images"

    ckpt = read_translation_checkpoint("tiny-inversion")  # by name
    for key, value in model.decoder.state_dict().items():
        assert torch.equal(ckpt.state_dict["decoder." + key], value)
    source = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        expected = model.decode(model.encode(source))
    got = Translator.from_checkpoint("tiny-inversion", device="cpu").translate(source).images
    assert (got - expected).abs().max() < 2e-2  # float16 encoder weights
    assert (got - expected).abs().mean() < 2e-3


def test_pack_refuses_an_encoder_trained_with_another_generator(tiny, tiny_zoo):
    _, trained, _ = _tiny_files(tiny, tiny_zoo)
    other = tiny.build_tiny_model(3, seed=9)
    atomic_torch_save({"g_ema": other.decoder.state_dict()}, tiny_zoo / "other.pt")
    with pytest.raises(P2SError, match="was not trained with generator"):
        zoo_pack.pack_translation(trained, tiny_zoo / "x.pt", str(tiny_zoo / "other.pt"))
    assert not (tiny_zoo / "x.pt").exists()


def test_a_generator_beside_the_packed_file_is_found_from_any_folder(tiny, tiny_zoo, monkeypatch):
    """It was recorded as given and looked for in the working folder."""
    model, trained, generator = _tiny_files(tiny, tiny_zoo)
    monkeypatch.chdir(tiny_zoo)
    (tiny_zoo / "out").mkdir()
    zoo_pack.pack_translation(trained, "out/packed.pt", "gen.pt")
    raw = torch.load(tiny_zoo / "out" / "packed.pt", weights_only=True)
    assert raw["p2s"]["shared_weights"]["decoder."]["file"] == "../gen.pt"  # relative to the packed file
    (tiny_zoo / "elsewhere").mkdir()
    monkeypatch.chdir(tiny_zoo / "elsewhere")
    ckpt = read_translation_checkpoint(tiny_zoo / "out" / "packed.pt")
    for key, value in model.decoder.state_dict().items():
        assert torch.equal(ckpt.state_dict["decoder." + key], value)


def test_zoo_pack_takes_only_a_shipped_generator(tiny, tiny_zoo):
    from typer.testing import CliRunner

    from p2s.cli.main import app

    _, trained, generator = _tiny_files(tiny, tiny_zoo)
    result = CliRunner().invoke(app, ["zoo", "pack", str(trained), "--name", "tiny-inversion",
                                      "--generator", str(generator)])
    assert result.exit_code == 2, result.output
    assert f"--generator names a shipped generator (shipped: none; pack one first with --kind generator), " \
           f"got '{generator}'" in " ".join(result.output.split())
    assert not list(zoo.WEIGHTS_DIR.iterdir())


def test_unknown_names_say_what_is_shipped(tiny, tiny_zoo):
    _, _, generator = _tiny_files(tiny, tiny_zoo)
    zoo_pack.pack_generator(generator, zoo.WEIGHTS_DIR / "tiny-generator.pt")
    zoo_pack.register("tiny-generator", "tiny-generator.pt", "generator")
    assert zoo.resolve("tiny-generator") == zoo.WEIGHTS_DIR / "tiny-generator.pt"
    assert zoo.resolve(generator) == generator  # paths stay paths
    assert zoo.names("generator") == ["tiny-generator"] and zoo.names("translation") == []
    with pytest.raises(MissingWeightsError, match="not a shipped model either.*tiny-generator"):
        load_checkpoint_file("tiny-genrator")
    # a file name with a suffix is a path, not a misspelt name
    with pytest.raises(MissingWeightsError) as err:
        load_checkpoint_file("missing.pt")
    assert "shipped" not in str(err.value) and "\n" not in str(err.value)


def test_shared_weights_entry_errors_are_one_line(tiny, tiny_zoo):
    model, trained, generator = _tiny_files(tiny, tiny_zoo)
    raw = torch.load(trained, weights_only=True)
    raw["p2s"]["shared_weights"] = {"decoder.": {"file": str(tiny_zoo / "nowhere.pt")}}
    atomic_torch_save(raw, tiny_zoo / "bad.pth")
    with pytest.raises(MissingWeightsError, match="shared by checkpoint"):
        read_translation_checkpoint(tiny_zoo / "bad.pth")
    raw["p2s"]["shared_weights"] = {"decoder.": "gen.pt"}
    atomic_torch_save(raw, tiny_zoo / "bad.pth")
    with pytest.raises(P2SError, match="must be a dict with a 'file'"):
        read_translation_checkpoint(tiny_zoo / "bad.pth")
    raw["p2s"]["shared_weights"] = {"decoder.": {"file": str(generator), "key": "generator"}}
    atomic_torch_save(raw, tiny_zoo / "bad.pth")
    with pytest.raises(P2SError, match="no 'generator' state dict"):
        read_translation_checkpoint(tiny_zoo / "bad.pth")


def test_zoo_cli_packs_and_lists(tiny, tiny_zoo):
    from typer.testing import CliRunner

    from p2s.cli.main import app

    _, trained, generator = _tiny_files(tiny, tiny_zoo)
    run = lambda *args: CliRunner().invoke(app, [str(a) for a in args])  # noqa: E731
    result = run("zoo", "pack", generator, "--name", "tiny-generator", "--kind", "generator")
    assert result.exit_code == 0, result.output
    result = run("zoo", "pack", trained, "--name", "tiny-inversion")
    assert result.exit_code == 2 and "--generator is needed" in result.output
    result = run("zoo", "pack", trained, "--name", "tiny-inversion", "--generator", "tiny-generator",
                 "--source", "images")
    assert result.exit_code == 2 and "--source and --target go together" in result.output
    assert sorted(p.name for p in (tiny_zoo / "weights").iterdir()) == ["tiny-generator.pt"]  # checked first
    result = run("zoo", "pack", trained, "--name", "tiny-inversion", "--generator", "tiny-generator",
                 "--source", "images", "--target", "images")
    assert result.exit_code == 0, result.output
    assert zoo.catalogue()["tiny-inversion"].data == {"source": "images", "target": "images"}
    result = run("zoo", "list")
    assert result.exit_code == 0 and "tiny-inversion" in result.output and "tiny-generator" in result.output


def test_packing_over_a_shipped_name_needs_replace_and_names_its_users(tiny, tiny_zoo):
    from typer.testing import CliRunner

    from p2s.cli.main import app

    _, trained, generator = _tiny_files(tiny, tiny_zoo)
    run = lambda *args: CliRunner().invoke(app, [str(a) for a in args])  # noqa: E731
    assert run("zoo", "pack", generator, "--name", "tiny-generator", "--kind", "generator").exit_code == 0
    assert run("zoo", "pack", trained, "--name", "tiny-inversion", "--generator", "tiny-generator").exit_code == 0
    packed = (tiny_zoo / "weights" / "tiny-generator.pt").read_bytes()
    result = run("zoo", "pack", generator, "--name", "tiny-generator", "--kind", "generator")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "'tiny-generator' is already shipped; 1 shipped encoders use it (tiny-inversion)" in message
    assert "pass --replace to overwrite it" in message
    assert (tiny_zoo / "weights" / "tiny-generator.pt").read_bytes() == packed
    result = run("zoo", "pack", generator, "--name", "tiny-generator", "--kind", "generator", "--replace")
    assert result.exit_code == 0, result.output


def test_replacing_a_generator_with_other_weights_makes_its_encoders_refuse_to_load(tiny, tiny_zoo):
    from typer.testing import CliRunner

    from p2s.cli.main import app

    _, trained, generator = _tiny_files(tiny, tiny_zoo)
    run = lambda *args: CliRunner().invoke(app, [str(a) for a in args])  # noqa: E731
    assert run("zoo", "pack", generator, "--name", "tiny-generator", "--kind", "generator").exit_code == 0
    assert run("zoo", "pack", trained, "--name", "tiny-inversion", "--generator", "tiny-generator").exit_code == 0
    Translator.from_checkpoint("tiny-inversion", device="cpu")  # loads

    retrained = tiny.build_tiny_model(3, seed=9)
    atomic_torch_save({"g_ema": retrained.decoder.state_dict()}, tiny_zoo / "new-gen.pt")
    result = run("zoo", "pack", tiny_zoo / "new-gen.pt", "--name", "tiny-generator", "--kind", "generator",
                 "--replace")
    assert result.exit_code == 0, result.output
    assert "warning: 1 shipped encoders were packed with the earlier 'tiny-generator'" in " ".join(result.output.split())
    for by in ("tiny-inversion", zoo.WEIGHTS_DIR / "tiny-inversion.pt"):  # by name and by path
        with pytest.raises(P2SError, match=r"was packed with another version of 'tiny-generator' \(sha256 differs; "
                                           r"it has been replaced since\): re-pack it"):
            read_translation_checkpoint(by)
    result = run("translate", "--checkpoint", "tiny-inversion", "--input", tiny_zoo / "new-gen.pt", "--output",
                 tiny_zoo / "out")
    assert result.exit_code == 2 and "was packed with another version of 'tiny-generator'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_shipped_file_changed_after_packing_is_refused_by_name(tiny, tiny_zoo):
    _, _, generator = _tiny_files(tiny, tiny_zoo)
    out = zoo_pack.pack_generator(generator, tiny_zoo / "weights" / "tiny-generator.pt")
    zoo_pack.register("tiny-generator", out.name, "generator")
    assert isinstance(load_checkpoint_file("tiny-generator"), dict)
    other = {"g_ema": {k: v + 1 for k, v in torch.load(out, weights_only=True)["g_ema"].items()}}
    atomic_torch_save(other, out)  # overwritten by hand, catalogue untouched
    with pytest.raises(P2SError, match=r"shipped model 'tiny-generator' .* is not the file its catalogue lists "
                                       r"\(sha256 differs\)"):
        load_checkpoint_file("tiny-generator")
    assert isinstance(load_checkpoint_file(out), dict)  # a path is a path: no catalogue to check against


@pytest.mark.parametrize("args, message", [
    (["--name", "../../escape"], "--name must be lower-case letters"),
    (["--name", ""], "--name must be lower-case letters"),
    (["--name", "a/b"], "--name must be lower-case letters"),
    (["--name", "ok", "--source", "nope", "--target", "images"], "--source names a synthetic-face image folder"),
    (["--name", "ok", "--source", "images", "--target", "attributes"], "--target names a synthetic-face image folder "
     "(images, labels, sketches, frontal), got 'attributes'"),  # attributes/ holds JSON
    (["--name", "ok", "--kind", "generator", "--source", "images"],
     "--generator, --source describe a translation model, not --kind generator"),
    (["--name", "ok", "--compare-with", "other"], "--compare-with needs --source and --target"),
    (["--name", "ok", "--source", "images", "--target", "images", "--compare-with", "nonexistent"],
     "--compare-with names another shipped translation model (shipped: none), got 'nonexistent'"),
])
def test_pack_refuses_names_and_folders_before_writing(tiny, tiny_zoo, args, message):
    from typer.testing import CliRunner

    from p2s.cli.main import app

    _, trained, _ = _tiny_files(tiny, tiny_zoo)
    result = CliRunner().invoke(app, ["zoo", "pack", str(trained), "--generator", "x", *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert list((tiny_zoo / "weights").iterdir()) == [] and not (tiny_zoo / "catalogue.json").exists()
    assert sorted(p.name for p in tiny_zoo.iterdir()) == ["gen.pt", "trained.pth", "weights"]
