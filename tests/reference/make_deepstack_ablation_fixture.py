#!/usr/bin/env python3
"""Writes ablation.safetensors into the DeepStack-L fixtures of tests/data/fixtures/deepstack/ (deepstack-l, -wide,
-tall, -hd): what the authors' computation gives with one stacked group left out, for the committed tiny models.

The same path as make_deepstack_fixture.py (which this imports): the authors' encoding and grouping read from a
checkout of MengLcool/DeepStack-VL and run on transformers' CLIP and LLaMA holding the fixture's weights, from the
views reference.safetensors stored, the injection of group k before layer start + k * interval as a forward
pre-hook; here group k's features are zeros. It first checks that it reproduces the stored prefill logits. Keys: `without.K.prefill_logits_last` (the prefill's last logits with group K, from 0, left out) for
every group that enters a layer. DeepStack-V's groups join inside the vision tower and are not covered here.

Run outside CI, in the same environment as make_deepstack_fixture.py:
    python tests/reference/make_deepstack_ablation_fixture.py PATH/TO/DeepStack-VL
"""
import json
import sys
import types
from pathlib import Path

import sentencepiece
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionModel, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_deepstack_fixture as fixture  # noqa: E402

TOWER = "model.vision_tower.vision_tower.vision_model."
PROJECTOR = "model.mm_projector."


def load_modules(folder):
    weights = load_file(folder / "model.safetensors")
    llm = LlamaForCausalLM(fixture.text_config()).eval()
    tower = CLIPVisionModel(fixture.vision_config()).eval()
    projector = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 64)).eval()
    for module, prefix in ((tower, TOWER), (projector, PROJECTOR)):
        state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        missing, unexpected = module.load_state_dict(state, strict=False)
        if unexpected or any("position_ids" not in m for m in missing):
            sys.exit(f"{folder}: {prefix} does not match: missing {missing}, unexpected {unexpected}")
    state = {k: v for k, v in weights.items() if not k.startswith(("model.vision_tower.", "model.mm_projector.", "model.image_newline"))}
    llm.load_state_dict(state, strict=True)
    return llm, tower, projector, weights.get("model.image_newline")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = Path(sys.argv[1])
    arch = fixture.authors_functions(repo, "llava/model/deepstack_arch.py", ["process_plain_deepstack", "process_image_grids",
                                                                              "process_deepstack_with_anyres"])
    clip = fixture.authors_functions(repo, "llava/model/multimodal_encoder/clip_encoder.py", ["custom_feature_forward"])
    sp = sentencepiece.SentencePieceProcessor(model_file=str(fixture.SP_MODEL))
    cases = json.loads((fixture.OUT / "cases.json").read_text())
    for variant, _, image_name in fixture.VARIANTS:
        folder = fixture.OUT / variant
        config = json.loads((folder / "config.json").read_text())
        if "deepstack_vit" in config.get("deepstack_args_for_ablation", ""):
            continue
        cfg = types.SimpleNamespace(**config)
        llm, tower, projector, image_newline = load_modules(folder)
        # The views as the fixture stored them (Pillow's resampling differs between versions; the views are
        # checked against our preprocessing by test_deepstack_llama already).
        reference = load_file(folder / "reference.safetensors")
        anyres = getattr(cfg, "is_anyres_deepstack", False)
        pixels = reference["pixel_values"]
        grid = tuple(cases["variants"][variant]["grid"])
        vision_self = types.SimpleNamespace(deepstack_vit=False, num_crops=4, vision_tower=fixture.AuthorsTower(tower), lsvit_start_layer=None)

        def encode_images(x):
            out = clip.custom_feature_forward(vision_self, x, output_hidden_states=True)
            return projector(out.hidden_states[-2][:, 1:])

        model_self = types.SimpleNamespace(config=cfg, encode_images=encode_images, deepstack_vit=False, deepstack_args_for_ablation=[],
                                           get_vision_tower=lambda: types.SimpleNamespace(num_patches_per_side=fixture.CROP // 7),
                                           model=types.SimpleNamespace(image_newline=image_newline))
        model_self.process_image_grids = lambda feats, g: arch.process_image_grids(model_self, feats, g)
        with torch.no_grad():
            if anyres:
                inputs, stacks = arch.process_deepstack_with_anyres(model_self, [pixels], [grid])
                image_embeds, stacks = inputs[0], [s[0] for s in stacks]
            else:
                inputs, stacks = arch.process_plain_deepstack(model_self, [pixels], [grid])
                image_embeds, stacks = inputs[0], [s[0] for s in stacks]
            ids = fixture.tokenizer_image_token(fixture.vicuna_prompt(fixture.QUESTION), sp)
            at = ids.index(fixture.IMAGE_TOKEN_INDEX)
            embeds = torch.cat([llm.model.embed_tokens(torch.tensor(ids[:at])), image_embeds,
                                llm.model.embed_tokens(torch.tensor(ids[at + 1:]))])[None]

        start, interval = getattr(cfg, "deepstack_start_id", 1), getattr(cfg, "deepstack_interval", 1)
        layers = fixture.text_config().num_hidden_layers

        def prefill(left_out):
            hooks = []
            for k, stack in enumerate(stacks):
                layer = start + k * interval
                if layer >= layers:
                    continue
                added = torch.zeros_like(stack) if k == left_out else stack

                def add_stack(module, args, kwargs, added=added):
                    hidden = args[0] if args else kwargs["hidden_states"]
                    length = min(hidden.shape[1], at + added.shape[0]) - at
                    hidden = hidden.clone()
                    hidden[0, at:at + length] += added[:length]
                    if args:
                        return (hidden,) + tuple(args[1:]), kwargs
                    kwargs["hidden_states"] = hidden
                    return args, kwargs
                hooks.append(llm.model.layers[layer].register_forward_pre_hook(add_stack, with_kwargs=True))
            try:
                with torch.no_grad():
                    return llm(inputs_embeds=embeds).logits[0, -1].contiguous()
            finally:
                for h in hooks:
                    h.remove()

        full = prefill(None)
        if (full - reference["prefill_logits_last"]).abs().max() > 1e-5:
            sys.exit(f"{variant}: the reloaded model does not reproduce reference.safetensors")
        tensors = {}
        for k in range(len(stacks)):
            if start + k * interval >= layers:
                continue
            tensors[f"without.{k}.prefill_logits_last"] = prefill(k)
            if (tensors[f"without.{k}.prefill_logits_last"] - full).abs().max() < 1e-3:
                sys.exit(f"{variant}: leaving group {k} out changes no logit; the fixture would not test it")
        save_file(tensors, folder / "ablation.safetensors", metadata={"transformers": transformers.__version__, "torch": torch.__version__})
        print(f"wrote {folder / 'ablation.safetensors'}: groups {sorted(int(k.split('.')[1]) for k in tensors)}")


if __name__ == "__main__":
    main()
