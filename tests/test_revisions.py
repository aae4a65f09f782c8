"""Hub revisions: a `revision` beside every `pretrained`, pinned in the shipped recipes and metric defaults,
passed to every from_pretrained / hf_hub_download, `hf://owner/repo@revision/file`, and recorded as provenance."""

from __future__ import annotations

import os
import re

import pytest

import ezigen
from ezigen.builtins.revisions import PINNED
from ezigen.errors import RecipeError, WeightsError
from ezigen.recipe.loader import is_hub_reference

RECIPES = os.path.join(os.path.dirname(ezigen.__file__), "recipes")
HASH = re.compile(r"^[0-9a-f]{40}$")


def shipped_recipes():
    for root, _dirs, files in os.walk(RECIPES):
        for name in sorted(files):
            if name.endswith(".yaml"):
                path = os.path.join(root, name)
                yield os.path.relpath(path, RECIPES)[: -len(".yaml")], path


def model_fields(recipe):
    """(section, config) for every section of a resolved recipe that names a model."""
    sections = [("backbone", recipe.backbone), ("subject_encoder", recipe.subject_encoder)]
    if recipe.refinement is not None:
        sections.append(("refinement.stop", recipe.refinement.stop))
    return [(name, spec.config) for name, spec in sections if spec is not None]


@pytest.mark.parametrize("name, path", list(shipped_recipes()), ids=[n for n, _ in shipped_recipes()])
def test_every_shipped_hub_model_names_a_commit_or_says_why_not(name, path):
    recipe = ezigen.load_recipe(name)
    text = open(path, encoding="utf-8").read()
    for section, config in model_fields(recipe):
        pretrained = getattr(config, "pretrained", None)
        if not is_hub_reference(pretrained):
            continue
        if config.revision is None:
            assert f"# no revision: no commit of {pretrained}" in text, (section, pretrained)
        else:
            assert HASH.match(config.revision), (section, config.revision)
            assert PINNED.get(pretrained) == config.revision, (section, pretrained)
    weights = getattr(recipe.fusion.config, "weights", None) if recipe.fusion else None
    if isinstance(weights, str) and weights.startswith("hf://"):
        repo = weights[len("hf://"):].split("@")[0]
        assert weights.startswith(f"hf://{repo}@{PINNED[repo]}/"), weights


def test_metric_and_stop_rule_defaults_pin_the_protocol_models():
    from ezigen.builtins.metrics import ClipImageMetricConfig, ClipTextMetricConfig, DinoMetricConfig
    from ezigen.builtins.stopping import ClipSimilarityStopConfig

    assert DinoMetricConfig().revision == PINNED["facebook/dino-vits16"]
    assert ClipImageMetricConfig().revision == ClipTextMetricConfig().revision == PINNED["openai/clip-vit-base-patch32"]
    assert ClipSimilarityStopConfig().revision == PINNED["openai/clip-vit-base-patch32"]


def test_a_pinned_commit_of_another_model_is_a_recipe_error():
    with pytest.raises(RecipeError, match="is the pinned commit of openai/clip-vit-base-patch32, not of pretrained "
                                          "'facebook/dino-vits16'"):
        ezigen.load_recipe("ezigen-sd21-base", ["refinement.stop.pretrained=facebook/dino-vits16"])
    recipe = ezigen.load_recipe("ezigen-sd21-base", ["refinement.stop.pretrained=facebook/dino-vits16",
                                                     "refinement.stop.revision=null"])
    assert recipe.refinement.stop.config.revision is None


def test_tiny_drops_the_revisions_of_the_models_it_replaces():
    recipe = ezigen.load_recipe("baselines/clip-ipadapter-sd21-base", tiny=True)
    assert recipe.backbone.config.pretrained == "tiny:sd21" and recipe.backbone.config.revision is None
    assert recipe.subject_encoder.config.pretrained == "tiny:clip" and recipe.subject_encoder.config.revision is None


def test_revision_reaches_from_pretrained_for_hub_ids_only(monkeypatch, tmp_path):
    import transformers

    from ezigen.builtins import image_models

    calls = []

    def record(cls_name):
        return classmethod(lambda cls, ref, **kwargs: calls.append((cls_name, ref, kwargs)) or _Stub())

    for cls_name in ("CLIPModel", "CLIPProcessor", "AutoModel", "AutoImageProcessor"):
        monkeypatch.setattr(getattr(transformers, cls_name), "from_pretrained", record(cls_name))
    image_models.load_clip.cache_clear()
    image_models.load_dino.cache_clear()
    image_models.load_clip("owner/clip", "abc123")
    image_models.load_dino("owner/dino", "def456")
    image_models.load_dino(str(tmp_path), "def456")  # a local folder has no revisions
    assert calls == [("CLIPModel", "owner/clip", {"revision": "abc123"}),
                     ("CLIPProcessor", "owner/clip", {"revision": "abc123"}),
                     ("AutoModel", "owner/dino", {"revision": "def456"}),
                     ("AutoImageProcessor", "owner/dino", {"revision": "def456"}),
                     ("AutoModel", str(tmp_path), {}), ("AutoImageProcessor", str(tmp_path), {})]
    image_models.load_clip.cache_clear()
    image_models.load_dino.cache_clear()


class _Stub:
    def eval(self):
        return self

    def requires_grad_(self, _flag):
        return self


@pytest.mark.parametrize("uri, repo, revision, path", [
    ("hf://h94/IP-Adapter/models/ip-adapter_sd15.safetensors", "h94/IP-Adapter", None, "models/ip-adapter_sd15.safetensors"),
    (f"hf://h94/IP-Adapter@{PINNED['h94/IP-Adapter']}/sdxl_models/a.bin", "h94/IP-Adapter", PINNED["h94/IP-Adapter"],
     "sdxl_models/a.bin"),
    ("hf://owner/repo@refs%2Fpr%2F3/w.safetensors", "owner/repo", "refs/pr/3", "w.safetensors"),
])
def test_hf_uris_parse_offline(uri, repo, revision, path):
    from ezigen.hub import HubFile, parse_hf_uri

    assert parse_hf_uri(uri) == HubFile(repo, revision, path)


@pytest.mark.parametrize("uri", ["hf://h94/IP-Adapter", "hf://datasets/owner/data/file.bin", "hf://just-a-name"])
def test_bad_hf_uris_are_weights_errors(uri):
    from ezigen.builtins.weights import ezigen_resolve_weights

    with pytest.raises(WeightsError, match=r"fusion.weights: .* is not hf://OWNER/REPO\[@REVISION\]/FILE"):
        ezigen_resolve_weights(uri)


def test_online_hf_uris_go_through_resolve_path_and_download_at_the_revision(monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from ezigen import hub

    resolved = []

    def resolve_path(self, path, revision=None):
        resolved.append(path)
        return huggingface_hub.hf_file_system.HfFileSystemResolvedRepositoryPath(
            "model", "owner/repo", "c0ffee", "dir/w.safetensors")

    downloads = []
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "hub_reachable", lambda endpoint: True)
    monkeypatch.setattr(huggingface_hub.HfFileSystem, "resolve_path", resolve_path)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, filename, revision=None: downloads.append((repo, filename, revision)) or "/x")
    assert hub.download_hf_uri("hf://owner/repo@c0ffee/dir/w.safetensors") == "/x"
    assert resolved == ["hf://owner/repo@c0ffee/dir/w.safetensors"]
    assert downloads == [("owner/repo", "dir/w.safetensors", "c0ffee")]

    def missing(self, path, revision=None):
        raise FileNotFoundError(path)

    monkeypatch.setattr(huggingface_hub.HfFileSystem, "resolve_path", missing)
    with pytest.raises(WeightsError, match="the hub has no repo 'owner/repo' at revision 'nope'"):
        hub.download_hf_uri("hf://owner/repo@nope/w.bin", error=WeightsError)


def test_provenance_records_each_model_with_its_revision_and_the_cached_commit(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from ezigen.provenance import recipe_models, run_provenance

    recipe = ezigen.load_recipe("baselines/ipadapter-sd15")
    models = recipe_models(recipe)
    assert models["backbone"] == ("stable-diffusion-v1-5/stable-diffusion-v1-5",
                                  PINNED["stable-diffusion-v1-5/stable-diffusion-v1-5"])
    assert models["fusion.weights"] == ("h94/IP-Adapter", PINNED["h94/IP-Adapter"])
    # a snapshot of the pinned commit in the local cache is what "resolved" names (read offline)
    commit = PINNED["h94/IP-Adapter"]
    snapshot = tmp_path / "models--h94--IP-Adapter" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    block = run_provenance(recipe)
    assert block["models"]["subject_encoder"] == {"kind": "hub", "id": "h94/IP-Adapter", "revision": commit,
                                                  "resolved": commit}
    assert block["models"]["backbone"]["resolved"] is None  # not cached here
