"""Export a reader folder's Hugging Face weights to ONNX and quantize them to int8 (dynamic quantization).

Usage (from the repository root):
    .venv/bin/python -m eval.export_reader qa/models/reader

Writes ``model_int8.onnx`` into the folder (under a temporary name, then renamed); ``NeuralReader`` then
runs it in ONNX Runtime. The float32 export is an intermediate file in a temporary folder. Needs the
``onnx`` package (the ``test`` extra has it); running the result needs only ``onnxruntime``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModelForQuestionAnswering

from qa.neural import ONNX_FILE

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("start_logits", "end_logits")
OPSET = 17


class _Logits(torch.nn.Module):
    """The QA model with plain tensor outputs, in the input order of ``INPUTS``."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.start_logits, out.end_logits


def export(folder: Path, *, per_channel: bool = True, quantize: bool = True) -> Path:
    """Write ``folder/model_int8.onnx`` from the folder's weights; returns its path.

    ``per_channel``: one int8 scale per output channel of each weight matrix (about half the logit error of
    one scale per matrix, at the same speed). ``quantize`` False writes the float32 graph under that name
    instead (exact parity with torch, 4x larger).
    """
    model = AutoModelForQuestionAnswering.from_pretrained(folder, local_files_only=True, dtype=torch.float32).eval()
    example = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, *OUTPUTS)}
    target = folder / ONNX_FILE
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings, about shapes
            torch.onnx.export(_Logits(model), (example, example, torch.zeros_like(example)), str(fp32),
                              input_names=list(INPUTS), output_names=list(OUTPUTS), dynamic_axes=axes,
                              opset_version=OPSET, dynamo=False)
        partial = folder / (ONNX_FILE + ".tmp")
        if quantize:
            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=per_channel)
        else:
            os.replace(fp32, partial)
    os.chmod(partial, 0o644)
    os.replace(partial, target)
    return target


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="reader folder (config.json + model.safetensors)")
    p.add_argument("--per-tensor", action="store_true", help="one int8 scale per weight matrix (default: per channel)")
    args = p.parse_args(argv)
    path = export(args.folder, per_channel=not args.per_tensor)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
