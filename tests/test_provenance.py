"""ezigen.provenance: versions, device and model sources, never touching the network."""

import os

from ezigen import provenance


def test_versions_name_the_libraries_and_ezigen_matches():
    import ezigen

    versions = provenance.library_versions()
    assert versions["ezigen"] == ezigen.__version__
    assert versions["torch"] and versions["diffusers"] and versions["python"]


def test_builtin_local_and_hub_sources(tmp_path):
    assert provenance.model_source("tiny:sd21") == {"kind": "builtin", "name": "tiny:sd21"}
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.safetensors").write_bytes(b"abc")
    (tmp_path / "a" / "config.json").write_text("{}")
    first = provenance.model_source(str(tmp_path / "a"))
    assert first["kind"] == "local" and len(first["sha256"]) == 64
    # a copy elsewhere hashes the same; a config change does not matter, a weights change does
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "w.safetensors").write_bytes(b"abc")
    assert provenance.model_source(str(tmp_path / "b"))["sha256"] == first["sha256"]
    (tmp_path / "b" / "w.safetensors").write_bytes(b"abd")
    os.utime(tmp_path / "b" / "w.safetensors", (1, 1))
    assert provenance.model_source(str(tmp_path / "b"))["sha256"] != first["sha256"]
    hub = provenance.model_source("owner/not-cached-model", "v1")
    assert hub == {"kind": "hub", "id": "owner/not-cached-model", "revision": "v1", "resolved": None}


def test_provenance_block_shape():
    block = provenance.provenance({"backbone": "tiny:sd21", "metric:dino": ("owner/x", None)}, "cpu", "torch.float32")
    assert set(block) == {"versions", "device", "models"}
    assert block["device"] == {"device": "cpu", "dtype": "float32", "cuda": None}
    assert block["models"]["metric:dino"]["kind"] == "hub"


def test_recipe_models_name_every_model_key(tmp_path):
    import ezigen

    models = provenance.recipe_models(ezigen.load_recipe("baselines/clip-ipadapter-sd21-base"))
    assert models["backbone"][0] == "stabilityai/stable-diffusion-2-1-base"
    assert models["subject_encoder"][0] == "h94/IP-Adapter"
    weights = tmp_path / "adapter.safetensors"
    weights.write_bytes(b"x")
    recipe = ezigen.load_recipe("ezigen-sd21-base", [f"fusion.weights={weights}"], tiny=True)
    models = provenance.recipe_models(recipe)
    assert models["fusion.weights"] == str(weights)
    assert models["refinement.stop"] == ("tiny:clip", None)
    assert provenance.snapshot_commit(f"/c/models--a--b/snapshots/{'ab' * 20}/unet") == "ab" * 20
    assert provenance.snapshot_commit("/some/folder/unet") is None
