"""`/text_to_3d` through gradio_client: the endpoint's shape, "auto", and prompts it must refuse clearly."""

from __future__ import annotations

import pytest

from pipelines.text_to_3d.options import MAX_PROMPT_CHARS, check_prompt, knobs

from .conftest import assert_valid_glb


def test_endpoint_is_named_with_the_documented_inputs(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = [p["parameter_name"] for p in endpoints["/text_to_3d"]["parameters"]]
    assert names == ["prompt", "pipeline", "seed", "guidance", "steps", "detail", "textured", "output_format"]
    assert len(endpoints["/text_to_3d"]["returns"]) == 3


def test_pipeline_picker_offers_auto_and_every_registered_pipeline(client, studio_server):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    picker = next(p for p in endpoints["/text_to_3d"]["parameters"] if p["parameter_name"] == "pipeline")
    assert picker["parameter_default"] == "auto"
    assert picker["type"]["enum"] == ["auto", *studio_server["studio"].registry.names("text_to_3d")]
    assert "shap-e" in picker["type"]["enum"]


def test_auto_generates_with_the_best_pipeline_or_says_why_none_is_available(client, studio_server):
    registry = studio_server["studio"].registry
    ready = registry.available("text_to_3d")
    listing = client.predict(api_name="/list_pipelines")["text_to_3d"]
    assert listing["auto"] == (ready[0].name if ready else None)
    if ready:
        glb, path, metadata = client.predict("a red wooden chair", api_name="/text_to_3d")
        assert_valid_glb(glb)
        assert metadata["pipeline"] == ready[0].name and metadata["output"]["faces"] > 0
    else:
        with pytest.raises(Exception) as caught:
            client.predict("a red wooden chair", api_name="/text_to_3d")
        text = str(caught.value)
        assert "No pipeline for Text to 3D is available on this machine" in text
        for row in listing["pipelines"]:
            assert f"{row['name']}: {row['reason']}" in text


def test_an_object_the_library_lacks_warns_through_the_endpoint(client):
    """The issue's "a ceramic teapot": the warning that a mug was built reaches the job's metadata (the UI shows it)."""
    glb, path, metadata = client.predict("a ceramic teapot", "builtin", api_name="/text_to_3d")
    assert metadata["template"] == "mug" and metadata["stands_in_for"] == "a teapot"
    assert any('No built-in template makes "a teapot"' in w and "mug" in w for w in metadata["warnings"])


def test_shap_e_without_weights_says_how_to_get_them(client, studio_server):
    rows = studio_server["studio"].registry.listing()["text_to_3d"]["pipelines"]
    if next(r for r in rows if r["name"] == "shap-e")["available"]:
        pytest.skip("Shap-E weights are on this machine; the refusal cannot be shown")
    with pytest.raises(Exception) as caught:
        client.predict("a red wooden chair", "shap-e", api_name="/text_to_3d")
    text = str(caught.value)
    assert "Pipeline 'shap-e' is not available here: weights for openai/shap-e are not on this machine" in text
    assert "snapshot_download('openai/shap-e')" in text and "STUDIO_SHAP_E_MODEL" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("prompt, message", [
    ("", "The prompt is empty; describe the object"),
    ("   \n\t ", "The prompt is empty; describe the object"),
    ("a chair " * 1250, f"The prompt has 10,000 characters; keep it under {MAX_PROMPT_CHARS}"),
    ("a red\x00 chair\x07", "The prompt contains control or invisible characters (U+0000, U+0007); type plain text only."),
    ("a chair\u200b\u202e", "control or invisible characters (U+200B, U+202E)"),
])
def test_bad_prompts_get_a_clear_error(client, prompt, message):
    with pytest.raises(Exception) as caught:
        client.predict(prompt, api_name="/text_to_3d")
    text = str(caught.value)
    assert message in text
    assert "Traceback" not in text


def test_bad_knobs_are_named(client):
    with pytest.raises(Exception, match=r"detail must be one of: low, medium, high; got 'ultra'"):
        client.predict("a cup", "auto", 0, 15.0, 64, "ultra", api_name="/text_to_3d")
    with pytest.raises(Exception, match=r"pipeline must be one of: auto, .*; got 'dreamfusion'"):
        client.predict("a cup", "dreamfusion", api_name="/text_to_3d")


def test_prompt_check_keeps_ordinary_text():
    assert check_prompt("  a big\tred\n chair, 2 m tall — café style ") == "a big red chair, 2 m tall — café style"
    assert check_prompt("x" * MAX_PROMPT_CHARS) == "x" * MAX_PROMPT_CHARS


def test_knobs_fill_defaults_check_ranges_and_draw_a_seed():
    assert knobs({}) == {"seed": 0, "guidance": 15.0, "steps": 64, "detail": "medium", "textured": False}
    drawn = {knobs({"seed": -1})["seed"] for _ in range(5)}
    assert len(drawn) > 1 and all(0 <= s < 2**32 for s in drawn)
    with pytest.raises(ValueError, match="guidance must be between 0.0 and 50.0; got 80.0"):
        knobs({"guidance": 80})
    with pytest.raises(ValueError, match="seed must be a number; got 'abc'"):
        knobs({"seed": "abc"})
