#!/usr/bin/env python3
"""Writes tests/data/fixtures/deepstack/: tiny random DeepStack models in the released checkpoints' layout
(DeepStack-L, DeepStack-L-HD, DeepStack-V), and what the authors' code computes with them.

The computation is the authors' own: their preprocessing (llava/mm_utils.py), their grouping of the high-resolution
features (llava/model/deepstack_arch.py) and their DeepStack-V vision forward (clip_encoder.py) are read from a
checkout of MengLcool/DeepStack-VL and executed here on transformers' CLIPVisionModel and LlamaForCausalLM; the
injection into the LLM (custom_llama.py: add group k to the image positions before layer start + k * interval,
prefill only) is a forward pre-hook. Nothing of the authors' code is stored in this repository.

Run outside CI, in a virtual environment with `pip install torch transformers safetensors sentencepiece pillow==10.4.0`
(Pillow 10, as in the authors' time: Pillow 13 orders its two resize passes differently, see make_pil_resize_fixture.py):
    python tests/reference/make_deepstack_fixture.py PATH/TO/DeepStack-VL
"""
import ast
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import sentencepiece
import torch
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling

ROOT = Path(__file__).resolve().parent.parent / "data"
OUT = ROOT / "fixtures" / "deepstack"
SP_MODEL = ROOT / "tokenizers" / "tiny-llama-sp.model"
IMAGE_TOKEN_INDEX = -200
CROP = 28  # the tiny CLIP's image size: 4 x 4 patches of 7 pixels
GREEDY_STEPS = 32


def authors_functions(repo, file, names):
    """The named functions (module level or methods) of one of the authors' files, compiled on their own."""
    tree = ast.parse((repo / file).read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            found[node.name] = node
    missing = set(names) - set(found)
    if missing:
        sys.exit(f"{file}: functions not found: {sorted(missing)}")
    namespace = {"torch": torch, "nn": torch.nn, "math": math, "ast": ast, "Image": Image,
                 "IMAGE_TOKEN_INDEX": IMAGE_TOKEN_INDEX, "BaseModelOutput": BaseModelOutput,
                 "BaseModelOutputWithPooling": BaseModelOutputWithPooling}
    module = ast.Module(body=[found[n] for n in names], type_ignores=[])
    exec(compile(module, str(repo / file), "exec"), namespace)
    return types.SimpleNamespace(**{n: namespace[n] for n in names})


class AuthorsTower(torch.nn.Module):
    """transformers 5's CLIPVisionModel holds embeddings and encoder itself; the authors reach them through
    `.vision_model` (the 4.39 layout, which is also the checkpoints' key layout)."""

    def __init__(self, tower):
        super().__init__()
        self.vision_model = tower

    def forward(self, x, output_hidden_states=True):
        return self.vision_model(x, output_hidden_states=output_hidden_states)


class LayerShim(torch.nn.Module):
    """transformers 5's CLIPEncoderLayer(hidden, mask) returns a tensor; the authors' loop (written for 4.39) calls
    layer(hidden, mask, causal_mask, output_attentions=...) and takes [0] of a tuple."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, hidden, attention_mask=None, causal_attention_mask=None, output_attentions=False):
        return (self.layer(hidden, None),)


def pattern(width, height, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 127 + 120 * np.sin(x / 7.0 + seed) * np.cos(y / 9.0)
    g = 255 * ((x // 10 + y // 10) % 2)
    b = 255 * x / max(width - 1, 1)
    image = np.stack([r, g, b], axis=-1) + rng.normal(0, 3, (height, width, 3))
    return Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8), "RGB")


# Images whose aspect ratios pick different grids among (W,H) in {(1,2),(1,3),(1,4),(2,1),(2,2),(3,1),(4,1)}.
IMAGES = [("square", 64, 60, 11), ("wide", 150, 40, 12), ("tall", 45, 95, 13)]

# variant: config additions, which image, prompt
VARIANTS = [
    ("deepstack-l", {}, "square"),
    ("deepstack-l-wide", {"deepstack_start_id": 2, "deepstack_interval": 1}, "wide"),
    ("deepstack-l-tall", {"deepstack_interval": 2}, "tall"),
    ("deepstack-l-hd", {"is_anyres_deepstack": True, "deepstack_sampling": "2d"}, "wide"),
    ("deepstack-v", {"deepstack_args_for_ablation": "deepstack_vit+2xsample+lsvit_start_layer_1"}, "tall"),
]
QUESTION = "What is the total amount of the invoice?"


TEXT = dict(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=1024, rms_norm_eps=1e-5, rope_theta=10000.0,
            tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def text_config():
    return LlamaConfig(**TEXT, attn_implementation="eager")


def vision_config():
    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=5, num_attention_heads=4,
                            image_size=CROP, patch_size=7, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                            attn_implementation="eager")


def processor():
    return CLIPImageProcessor(size={"shortest_edge": CROP}, crop_size={"height": CROP, "width": CROP},
                              image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
                              do_resize=True, do_center_crop=True, resample=3, do_convert_rgb=True)


def vicuna_prompt(question):
    system = ("A chat between a curious user and an artificial intelligence assistant. "
              "The assistant gives helpful, detailed, and polite answers to the user's questions.")
    return f"{system} USER: <image>\n{question} ASSISTANT:"


def tokenizer_image_token(prompt, sp):
    """The authors' tokenizer_image_token with the slow LlamaTokenizer: each chunk gets BOS; later chunks lose it."""
    chunks = [[1] + sp.encode(chunk) for chunk in prompt.split("<image>")]
    ids = [chunks[0][0]]
    for i, chunk in enumerate(chunks):
        if i > 0:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[1:])
    return ids


def authors_vicuna_prompts(repo):
    """The authors' conv_vicuna_v1 (llava/conversation.py, run as is) for one turn with an image and for two turns."""
    namespace = {"__name__": "conversation"}
    exec(compile((repo / "llava/conversation.py").read_text(), "conversation.py", "exec"), namespace)
    one = namespace["conv_templates"]["vicuna_v1"].copy()
    one.append_message(one.roles[0], "<image>\n" + QUESTION)
    one.append_message(one.roles[1], None)
    two = namespace["conv_templates"]["vicuna_v1"].copy()
    two.append_message(two.roles[0], "<image>\n" + QUESTION)
    two.append_message(two.roles[1], "It is 42.")
    two.append_message(two.roles[0], "And the date?")
    two.append_message(two.roles[1], None)
    assert one.get_prompt() == vicuna_prompt(QUESTION), one.get_prompt()
    return {"question": QUESTION, "one_turn": one.get_prompt(), "reply": "It is 42.", "second_question": "And the date?",
            "two_turns": two.get_prompt()}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = Path(sys.argv[1])
    mm = authors_functions(repo, "llava/mm_utils.py", ["select_best_resolution", "divide_to_patches",
                                                         "resize_and_pad_image", "process_anyres_image"])
    arch = authors_functions(repo, "llava/model/deepstack_arch.py", ["process_plain_deepstack", "process_image_grids",
                                                                     "process_deepstack_with_anyres"])
    clip = authors_functions(repo, "llava/model/multimodal_encoder/clip_encoder.py", ["custom_feature_forward"])
    torch.manual_seed(0)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(SP_MODEL))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "images").mkdir(exist_ok=True)
    images = {}
    for name, w, h, seed in IMAGES:
        pattern(w, h, seed).save(OUT / "images" / f"{name}.png")
        images[name] = Image.open(OUT / "images" / f"{name}.png").convert("RGB")
    summary = {"transformers": transformers.__version__, "torch": torch.__version__, "variants": {}}

    for variant, extra, image_name in VARIANTS:
        torch.manual_seed(sum(map(ord, variant)))
        tc, vc = text_config(), vision_config()
        llm = LlamaForCausalLM(tc).eval()
        tower = CLIPVisionModel(vc).eval()
        projector = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 64)).eval()
        image_newline = torch.randn(64) * 0.5
        for p in list(llm.parameters()) + list(tower.parameters()) + list(projector.parameters()):
            # Larger than the default init so that every layer and every stack changes the logits visibly.
            p.data.normal_(0, 0.08 if p.dim() > 1 else 0.05)
        for module in list(tower.modules()) + list(llm.modules()):
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.data.normal_(1.0, 0.1)
                module.bias.data.normal_(0.0, 0.05)
        for layer in llm.model.layers:
            layer.input_layernorm.weight.data.normal_(1.0, 0.1)
            layer.post_attention_layernorm.weight.data.normal_(1.0, 0.1)
        llm.model.norm.weight.data.normal_(1.0, 0.1)

        config = {
            "architectures": ["DeepstackLlamaForCausalLM"], "model_type": "deepstack_llama",
            **TEXT,
            "hidden_act": "silu", "attention_bias": False, "torch_dtype": "float32",
            "image_aspect_ratio": "deepstack", "mm_hidden_size": 32, "mm_projector_type": "mlp2x_gelu",
            "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_vision_tower": "tiny-clip",
            "mm_patch_merge_type": "flat", "mm_use_im_patch_token": False, "mm_use_im_start_end": False,
            "num_crops": 4, "tokenizer_model_max_length": 1024,
            "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 5,
                              "num_attention_heads": 4, "image_size": CROP, "patch_size": 7,
                              "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
            **extra,
        }
        cfg = types.SimpleNamespace(**config)
        flags = cfg.deepstack_args_for_ablation.split("+") if getattr(cfg, "deepstack_args_for_ablation", None) else []
        deepstack_vit = "deepstack_vit" in flags

        # ---- preprocessing: the authors' process_anyres_image ----
        image = images[image_name]
        pixels, grid = mm.process_anyres_image(image, processor(), num_crops=4,
                                               is_anyres_deepstack=getattr(cfg, "is_anyres_deepstack", False),
                                               deepstack_args_for_ablation=getattr(cfg, "deepstack_args_for_ablation", None))

        # ---- vision tower + projector: the authors' encode path ----
        vision_self = types.SimpleNamespace(
            deepstack_vit=deepstack_vit, num_crops=4, vision_tower=AuthorsTower(tower),
            lsvit_start_layer=int([f for f in flags if f.startswith("lsvit_start_layer")][0].split("_")[-1]) if deepstack_vit else None)
        if deepstack_vit:
            tower.encoder.layers = torch.nn.ModuleList([LayerShim(l) for l in tower.encoder.layers])

        def encode_images(x):
            out = clip.custom_feature_forward(vision_self, x, output_hidden_states=True)
            return projector(out.hidden_states[-2][:, 1:])

        model_self = types.SimpleNamespace(
            config=cfg, encode_images=encode_images, deepstack_vit=deepstack_vit, deepstack_args_for_ablation=flags,
            get_vision_tower=lambda: types.SimpleNamespace(num_patches_per_side=CROP // 7),
            model=types.SimpleNamespace(image_newline=image_newline))
        model_self.process_image_grids = lambda f, g: arch.process_image_grids(model_self, f, g)
        with torch.no_grad():
            if getattr(cfg, "is_anyres_deepstack", False):
                inputs, stacks = arch.process_deepstack_with_anyres(model_self, [pixels], [grid])
                image_embeds, stacks = inputs[0], [s[0] for s in stacks]
            else:
                inputs, stacks = arch.process_plain_deepstack(model_self, [pixels], [grid])
                image_embeds = inputs[0]
                stacks = [] if stacks is None else [s[0] for s in stacks]

        # ---- sequence: the authors' tokenizer_image_token, the image run spliced at the sentinel ----
        ids = tokenizer_image_token(vicuna_prompt(QUESTION), sp)
        at = ids.index(IMAGE_TOKEN_INDEX)
        with torch.no_grad():
            embeds = torch.cat([llm.model.embed_tokens(torch.tensor(ids[:at])), image_embeds,
                                llm.model.embed_tokens(torch.tensor(ids[at + 1:]))])[None]

        # ---- the LLM with the DeepStack injection as pre-hooks (prefill only) ----
        start, interval = getattr(cfg, "deepstack_start_id", 1), getattr(cfg, "deepstack_interval", 1)
        state = {"prefill": True}
        hooks = []
        for k, stack in enumerate(stacks):
            layer = start + k * interval
            if layer >= tc.num_hidden_layers:
                continue

            def add_stack(module, args, kwargs, stack=stack):
                if not state["prefill"]:
                    return None
                hidden = args[0] if args else kwargs["hidden_states"]
                length = min(hidden.shape[1], at + stack.shape[0]) - at
                hidden = hidden.clone()
                hidden[0, at:at + length] += stack[:length]
                if args:
                    return (hidden,) + tuple(args[1:]), kwargs
                kwargs["hidden_states"] = hidden
                return args, kwargs
            hooks.append(llm.model.layers[layer].register_forward_pre_hook(add_stack, with_kwargs=True))

        with torch.no_grad():
            out = llm(inputs_embeds=embeds, use_cache=True)
            prefill_logits = out.logits[0].clone()
            cache = out.past_key_values
            state["prefill"] = False
            tokens, step_logits = [], []
            logits = prefill_logits[-1]
            position = embeds.shape[1]
            for _ in range(GREEDY_STEPS):
                token = int(logits.argmax())
                tokens.append(token)
                out = llm(input_ids=torch.tensor([[token]]), past_key_values=cache, use_cache=True,
                          position_ids=torch.tensor([[position]]))
                cache = out.past_key_values
                position += 1
                logits = out.logits[0, -1]
                step_logits.append(logits.clone())
        for h in hooks:
            h.remove()

        # ---- the folder, in the released checkpoints' key layout ----
        folder = OUT / variant
        folder.mkdir(exist_ok=True)
        weights = {}
        for name, t in tower.state_dict().items():
            name = name.replace(".layer.", ".")  # the LayerShim's extra level
            weights["model.vision_tower.vision_tower.vision_model." + name] = t
        for name, t in projector.state_dict().items():
            weights["model.mm_projector." + name] = t
        for name, t in llm.state_dict().items():
            weights[name] = t
        if getattr(cfg, "is_anyres_deepstack", False):
            weights["model.image_newline"] = image_newline
        weights = {k: v.contiguous() for k, v in weights.items() if "position_ids" not in k}
        save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
        (folder / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
        (folder / "preprocessor_config.json").write_text(json.dumps(processor().to_dict(), indent=1) + "\n")
        (folder / "tokenizer.model").write_bytes(SP_MODEL.read_bytes())

        reference = {
            "pixel_values": pixels.contiguous(),
            "image_embeds": image_embeds.contiguous(),
            "input_ids": torch.tensor(ids),
            "prefill_logits_last": prefill_logits[-1].contiguous(),
            "decode_logits": torch.stack(step_logits).contiguous(),
            "greedy_tokens": torch.tensor(tokens),
        }
        for k, stack in enumerate(stacks):
            reference[f"stack.{k}"] = stack.contiguous()
        save_file(reference, folder / "reference.safetensors")
        summary["variants"][variant] = {"image": f"images/{image_name}.png", "image_size": list(image.size),
                                        "grid": list(grid), "crops": int(pixels.shape[0]),
                                        "image_tokens": int(image_embeds.shape[0]), "stacks": len(stacks),
                                        "prompt_tokens": len(ids), "question": QUESTION, "greedy_tokens": tokens}
        print(variant, summary["variants"][variant])
    summary["vicuna_v1"] = authors_vicuna_prompts(repo)
    (OUT / "cases.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
