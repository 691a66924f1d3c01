"""Generator metadata, written the way each tool writes it, read through the media loader.

Each case builds a file in memory, loads it with :func:`jikimi.media.load` and
checks the strength and the sentence; the prompt never appears in a sentence.
The negative cases are what cameras, phones and photo editors really write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from PIL import ExifTags
from synthetic_files import (
    Array,
    encode_jpeg,
    encode_png,
    encode_webp,
    exif_block,
    user_comment_utf16be,
    xmp_packet,
)

from jikimi.detectors.synthetic.generators import GeneratorMetadataChecker
from jikimi.domain import EvidenceKind, Strength
from jikimi.media import Picture

Read = Callable[[bytes], Picture]
checker = GeneratorMetadataChecker()

PROMPT = "a quiet mountain valley at dawn, mist, highly detailed"
"""The stand-in prompt: it must never be echoed in an evidence sentence."""

A1111 = (
    f"{PROMPT}\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, "
    'Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "a: 1, b: 2", '
    "Version: v1.10.1"
)

COMFY_PROMPT = {
    "3": {
        "inputs": {"seed": 1, "steps": 20, "cfg": 8, "sampler_name": "euler", "model": ["4", 0]},
        "class_type": "KSampler",
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        "class_type": "CheckpointLoaderSimple",
    },
    "6": {"inputs": {"text": PROMPT, "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
}
COMFY_WORKFLOW = {
    "last_node_id": 9,
    "nodes": [
        {"id": 3, "type": "KSampler", "widgets_values": [1, "fixed", 20, 8, "euler"]},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": [PROMPT]},
        {"id": 9, "type": "SaveImage", "widgets_values": ["ComfyUI"]},
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"]],
    "version": 0.4,
}

NOVELAI_COMMENT = {
    "prompt": PROMPT,
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "seed": 3054177340,
    "n_samples": 1,
    "noise_schedule": "karras",
    "sampler": "k_euler_ancestral",
    "uc": "lowres",
    "request_type": "PromptGenerateRequest",
    "signed_hash": "c2lnbmVk",
}


@dataclass(frozen=True)
class Case:
    """A file some tool writes, and what the checker must say about it."""

    build: Callable[[Array], bytes]
    strength: Strength
    says: tuple[str, ...]


CASES: dict[str, Case] = {
    "a1111-png": Case(
        lambda rgb: encode_png(rgb, text={"parameters": A1111}),
        Strength.STRONG,
        (
            "AUTOMATIC1111-format generation parameters in text field 'parameters'",
            "Steps 20",
            "Sampler 'DPM++ 2M'",
            "Size 512x768",
            "Model 'v1-5-pruned-emaonly'",
            "Version 'v1.10.1'",
        ),
    ),
    "a1111-jpeg-usercomment-utf16be": Case(
        lambda rgb: encode_jpeg(
            rgb, exif=exif_block({}, {ExifTags.Base.UserComment: user_comment_utf16be(A1111)})
        ),
        Strength.STRONG,
        ("in EXIF UserComment", "Steps 20"),
    ),
    "a1111-webp-usercomment": Case(
        lambda rgb: encode_webp(
            rgb, exif=exif_block({}, {ExifTags.Base.UserComment: user_comment_utf16be(A1111)})
        ),
        Strength.STRONG,
        ("in EXIF UserComment",),
    ),
    "comfyui-png": Case(
        lambda rgb: encode_png(
            rgb,
            text={"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(COMFY_WORKFLOW)},
        ),
        Strength.STRONG,
        (
            "ComfyUI generation graph in text field 'prompt' and text field 'workflow'",
            "4 nodes",
            "sampler 'KSampler'",
            "model 'v1-5-pruned-emaonly.safetensors'",
        ),
    ),
    "comfyui-workflow-only": Case(
        lambda rgb: encode_png(rgb, text={"workflow": json.dumps(COMFY_WORKFLOW)}),
        Strength.STRONG,
        ("ComfyUI generation graph in text field 'workflow' (3 nodes",),
    ),
    "comfyui-webp-exif": Case(
        # ComfyUI's SaveAnimatedWEBP: Model = "prompt:{...}", Make = "workflow:{...}"
        lambda rgb: encode_webp(
            rgb,
            exif=exif_block(
                {
                    ExifTags.Base.Model: "prompt:" + json.dumps(COMFY_PROMPT),
                    ExifTags.Base.Make: "workflow:" + json.dumps(COMFY_WORKFLOW),
                }
            ),
        ),
        Strength.STRONG,
        ("ComfyUI generation graph in EXIF Make and EXIF Model",),
    ),
    "comfyui-face-swap-on-loaded-image": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "prompt": json.dumps(
                    {
                        **COMFY_PROMPT,
                        "10": {"inputs": {"image": "photo.jpg"}, "class_type": "LoadImage"},
                        "11": {"inputs": {}, "class_type": "ReActorFaceSwap"},
                    }
                )
            },
        ),
        Strength.STRONG,
        ("edits a loaded image", "face-swap node 'ReActorFaceSwap'"),
    ),
    "comfyui-upscale-only": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "prompt": json.dumps(
                    {
                        "1": {"inputs": {"image": "photo.jpg"}, "class_type": "LoadImage"},
                        "2": {"inputs": {}, "class_type": "ImageScaleBy"},
                        "3": {"inputs": {}, "class_type": "SaveImage"},
                    }
                )
            },
        ),
        Strength.MODERATE,
        ("ComfyUI processing graph without a sampler",),
    ),
    "novelai-png": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "Title": "AI generated image",
                "Description": PROMPT,
                "Software": "NovelAI",
                "Source": "NovelAI Diffusion V4.5 4BDE2A90",
                "Generation time": "5.1",
                "Comment": json.dumps(NOVELAI_COMMENT),
            },
        ),
        Strength.STRONG,
        (
            "NovelAI generation metadata in text field 'Software' and text field 'Comment'",
            "Source 'NovelAI Diffusion V4.5 4BDE2A90'",
            "sampler 'k_euler_ancestral'",
        ),
    ),
    "invokeai-v3": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "invokeai_metadata": json.dumps(
                    {
                        "generation_mode": "txt2img",
                        "positive_prompt": PROMPT,
                        "seed": 1,
                        "steps": 30,
                        "cfg_scale": 7.5,
                        "model": {"name": "stable-diffusion-v1-5", "base": "sd-1"},
                        "app_version": "4.2.9",
                    }
                )
            },
        ),
        Strength.STRONG,
        (
            "InvokeAI generation metadata in text field 'invokeai_metadata'",
            "mode 'txt2img'",
            "model 'stable-diffusion-v1-5'",
            "version 4.2.9",
        ),
    ),
    "invokeai-v2-sd-metadata": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "sd-metadata": json.dumps(
                    {
                        "model": "stable diffusion",
                        "model_weights": "stable-diffusion-1.5",
                        "app_id": "invoke-ai/InvokeAI",
                        "app_version": "2.3.5",
                        "image": {"prompt": [{"prompt": PROMPT}], "steps": 50, "seed": 1},
                    }
                ),
                "Dream": f'"{PROMPT}" -s 50 -S 1 -W 512 -H 512 -C 7.5 -A k_lms',
            },
        ),
        Strength.STRONG,
        ("InvokeAI generation metadata in text field 'sd-metadata'", "steps 50"),
    ),
    "invokeai-v1-dream": Case(
        lambda rgb: encode_png(rgb, text={"Dream": f'"{PROMPT}" -s 50 -S 2977 -W 512 -H 512'}),
        Strength.STRONG,
        ("InvokeAI (Dream) generation command in text field 'Dream'",),
    ),
    "fooocus-json": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "parameters": json.dumps(
                    {
                        "Prompt": PROMPT,
                        "Negative Prompt": "",
                        "Styles": "['Fooocus V2']",
                        "Guidance Scale": 4,
                        "Base Model": "juggernautXL_v8Rundiffusion.safetensors",
                        "Sampler": "dpmpp_2m_sde_gpu",
                        "Scheduler": "karras",
                        "Seed": "123",
                        "Version": "Fooocus v2.5.5",
                    }
                ),
                "fooocus_scheme": "fooocus",
            },
        ),
        Strength.STRONG,
        ("Generation parameters of Fooocus (JSON)", "model 'juggernautXL_v8Rundiffusion"),
    ),
    "swarmui-json": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "parameters": json.dumps(
                    {
                        "sui_image_params": {
                            "prompt": PROMPT,
                            "model": "OfficialStableDiffusion/sd_xl_base_1.0",
                            "seed": 1,
                            "steps": 20,
                            "cfgscale": 7,
                        },
                        "sui_extra_data": {"date": "2024-05-01"},
                    }
                )
            },
        ),
        Strength.STRONG,
        ("Generation parameters of SwarmUI (JSON) in text field 'parameters'",),
    ),
    "draw-things-xmp": Case(
        lambda rgb: encode_jpeg(
            rgb,
            xmp=xmp_packet(
                'xmp:CreatorTool="Draw Things" xmlns:exif="http://ns.adobe.com/exif/1.0/"',
                "<exif:UserComment><rdf:Alt><rdf:li xml:lang='x-default'>"
                + json.dumps(
                    {"c": PROMPT, "sampler": "DPM++ 2M Karras", "seed": 1, "steps": 20, "scale": 5}
                )
                + "</rdf:li></rdf:Alt></exif:UserComment>",
            ),
        ),
        Strength.STRONG,
        ("Generation parameters of Draw Things (JSON) in XMP exif:UserComment",),
    ),
    "midjourney-description": Case(
        lambda rgb: encode_png(
            rgb,
            text={
                "Description": f"{PROMPT} --ar 3:2 --v 6.1 "
                "Job ID: 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                "Author": "someone",
            },
        ),
        Strength.MODERATE,
        ("Midjourney job ID in text field 'Description'",),
    ),
    "exif-software-names-generator": Case(
        lambda rgb: encode_jpeg(rgb, exif=exif_block({ExifTags.Base.Software: "Midjourney v6"})),
        Strength.MODERATE,
        ("EXIF Software names the generator Midjourney: 'Midjourney v6'",),
    ),
    "xmp-creator-tool-names-generator": Case(
        lambda rgb: encode_jpeg(rgb, xmp=xmp_packet('xmp:CreatorTool="Adobe Firefly"')),
        Strength.MODERATE,
        ("XMP xmp:CreatorTool names the generator Adobe Firefly",),
    ),
    "png-software-names-face-swap": Case(
        lambda rgb: encode_png(rgb, text={"Software": "FaceFusion 3.0.0"}),
        Strength.MODERATE,
        ("text field 'Software' names the generator FaceFusion",),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_generator_records(name: str, small: Array, read: Read) -> None:
    case = CASES[name]
    (evidence,) = checker.check(read(case.build(small)))
    assert evidence.kind is EvidenceKind.GENERATOR_METADATA
    assert evidence.strength is case.strength, evidence.detail
    for phrase in case.says:
        assert phrase in evidence.detail
    assert "mountain valley" not in evidence.detail  # never the prompt


NOT_GENERATORS: dict[str, Callable[[Array], bytes]] = {
    "camera-and-photoshop": lambda rgb: encode_jpeg(
        rgb,
        exif=exif_block(
            {
                ExifTags.Base.Make: "Canon",
                ExifTags.Base.Model: "Canon EOS 5D Mark IV",
                ExifTags.Base.Software: "Adobe Photoshop 25.0 (Windows)",
            },
            {ExifTags.Base.UserComment: b"ASCII\x00\x00\x00Holiday, day 3"},
        ),
        xmp=xmp_packet('xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0 (Windows)"'),
    ),
    "phone": lambda rgb: encode_jpeg(
        rgb,
        exif=exif_block(
            {
                ExifTags.Base.Make: "Google",
                ExifTags.Base.Model: "Pixel 8",
                ExifTags.Base.Software: "HDR+ 1.0.641377693zd",
            }
        ),
    ),
    "spanish-editor": lambda rgb: encode_jpeg(
        rgb, exif=exif_block({ExifTags.Base.Software: "Editor de imagen 2.1"})
    ),
    "gimp-png": lambda rgb: encode_png(
        rgb, text={"Software": "GIMP 2.10.34", "Comment": "Created with GIMP"}
    ),
    "unrelated-parameters": lambda rgb: encode_png(
        rgb, text={"parameters": "compression: 9, filter: adaptive", "prompt": "Enter password"}
    ),
    "unrelated-json": lambda rgb: encode_png(
        rgb,
        text={
            "Comment": json.dumps({"author": "me", "rating": 5, "prompt": "caption"}),
            "workflow": json.dumps({"steps": ["crop", "resize"]}),
        },
    ),
    "deep-json": lambda rgb: encode_png(rgb, text={"parameters": "{" + '"a":[' * 50_000}),
}


@pytest.mark.parametrize("name", NOT_GENERATORS)
def test_cameras_editors_and_lookalikes_are_not_evidence(
    name: str, small: Array, read: Read
) -> None:
    assert checker.check(read(NOT_GENERATORS[name](small))) == ()


def test_one_item_even_when_a_file_carries_two_records(small: Array, read: Read) -> None:
    # ComfyUI's A1111-compatible savers write both a graph and a parameters line.
    data = encode_png(small, text={"parameters": A1111, "prompt": json.dumps(COMFY_PROMPT)})
    (evidence,) = checker.check(read(data))
    assert evidence.detail.startswith("AUTOMATIC1111-format")


def test_hostile_text_is_cleaned_in_the_sentence(small: Array, read: Read) -> None:
    software = "Midjourney\x1b[31m\n" + "A" * 500
    data = encode_png(small, text={"Software": software})
    (evidence,) = checker.check(read(data))
    assert "\x1b" not in evidence.detail and "\n" not in evidence.detail
    assert len(evidence.detail) < 200


@pytest.mark.parametrize(
    "software",
    [
        "Midjourney",
        "DALL·E 3",
        "DALL-E",
        "ChatGPT",
        "OpenAI API",
        "Stable Diffusion XL",
        "SDXL 1.0",
        "Adobe Firefly Image 3",
        "Google Imagen",
        "imagen-3.0-generate-002",
        "Gemini 2.5 Flash Image",
        "Nano Banana",
        "Leonardo.Ai",
        "Ideogram 2.0",
        "FLUX.1 [dev]",
        "Flux Pro",
        "Black Forest Labs",
        "ComfyUI",
        "Stable Diffusion web UI",
        "InvokeAI 4.2",
        "Fooocus v2.5.5",
        "Draw Things",
        "DiffusionBee",
        "DeepFaceLab",
        "roop",
        "FaceApp",
    ],
)
def test_known_generator_names(software: str, small: Array, read: Read) -> None:
    data = encode_png(small, itxt={"Software": software})  # iTXt: "DALL·E" is not ASCII
    (evidence,) = checker.check(read(data))
    assert evidence.strength is Strength.MODERATE


@pytest.mark.parametrize(
    "software",
    [
        "Adobe Photoshop 25.0 (Windows)",
        "Adobe Photoshop Lightroom Classic 13.0 (Macintosh)",
        "GIMP 2.10.34",
        "ImageMagick 7.1.1-15",
        "Paint.NET 5.0.12",
        "Capture One 23 Macintosh",
        "darktable 4.6.1",
        "Snapseed 2.0",
        "Digital Photo Professional",
        "Affinity Photo 2",
        "Flux Photo Studio",
        "Firefox Screenshots",
        "Gemini PDA camera",
        "iOS 17.1",
        "Microsoft Windows Photo Viewer 6.1",
        "Samsung Gallery",
    ],
)
def test_ordinary_software_names(software: str, small: Array, read: Read) -> None:
    data = encode_png(small, itxt={"Software": software})
    assert checker.check(read(data)) == ()
