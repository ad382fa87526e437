"""The fine-tuning loop: data, model (full or LoRA), optimiser, checkpoints, export.

Output directory::

    OUTPUT/
      encoder.yaml          the fine-tuned encoder (--encoder OUTPUT/encoder.yaml)
      model/                its checkpoint (the base checkpoint's layout, safetensors)
      adapter/              LoRA only: the adapters alone (peft format)
      training.json         options, data statistics, losses, wall time, held-out results
      log.jsonl             one line per optimiser step (loss, dense, sparse, lr, seconds)
      train-data.jsonl      the training examples actually used (Tevatron JSONL; for a
                            BEIR input: with the mined BM25 negatives)
      checkpoints/step-N/   resumable state: trainable weights, optimiser, scheduler, RNG

Gradient accumulation: each micro-batch (``batch_size`` queries with their passages) is its
own contrastive pool (its in-batch passages); ``accumulation`` micro-batches make one
optimiser step.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import load_config
from ..encode.encoder import DiffRetrieverEncoder
from ..topics import beir_split
from .data import BatchSampler, Example, load_training_data, mine_bm25_negatives, read_tevatron, write_tevatron
from .evaluate import evaluate_on_collection
from .export import encoder_yaml, load_trainable_state, save_checkpoint, save_release, trainable_state
from .lora import apply_lora, merge_adapter
from .model import ContrastiveModel, Objective


@dataclass
class TrainOptions:
    encoder: str
    train: str
    output: str
    split: str = "train"
    name: str | None = None
    method: str = "auto"            # auto (full for masked LMs, LoRA otherwise), full, lora
    lora_r: int = 16
    lora_alpha: int = 64
    lora_dropout: float = 0.05
    lora_targets: list[str] | None = None
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 16            # queries per micro-batch
    accumulation: int = 1           # micro-batches per optimiser step
    negatives: int = 7              # hard negatives per query
    lr: float = 1e-4
    warmup: float = 0.06            # fraction of the steps (published warmup ratio)
    schedule: str = "cosine"        # cosine (published) or linear (the first shipped default's)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    tau_dense: float = 0.01
    tau_sparse: float = 1.0
    train_sparse_topk: bool = True  # the per-position top-k of inference, also in training
    dense_score: str = "mean"       # mean (published: (1/K_q) sum_i max_j, no clamp) or clamped-sum
    head_bias_quantile: float | None = None  # calibrate the LM head bias at the start (see model.py)
    freeze_embeddings: bool = False
    dropout: bool = True
    gradient_checkpointing: bool = False
    kq: int | None = None
    kp: int | None = None
    max_length_query: int | None = None
    max_length_passage: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int = 42
    save_every: int = 0             # optimiser steps between checkpoints (0: once per epoch)
    keep_checkpoints: int = 2
    resume: bool = False
    mine_depth: int = 100
    mine_skip: int = 0
    bm25_index: str | None = None
    holdout: int = 0                # training queries held out for evaluation (BEIR input)
    eval_every_epoch: bool = False
    threads: int = 2
    progress: bool = True


SCHEDULES = ("cosine", "linear")


def make_scheduler(optimizer, schedule: str, warmup: float, total_steps: int):
    """The learning-rate schedule: ``cosine`` is transformers' cosine decay after a linear
    warm-up of ceil(warmup * total_steps) steps (as transformers' Trainer rounds a warmup
    ratio), the published trainer's; ``linear`` is the schedule the first shipped default
    was trained with, kept to reproduce it: warm-up factor (step + 1) / (warmup + 1), then a
    linear decay to 0 (hand-written: it is not transformers' linear schedule, whose warm-up
    starts at 0)."""
    warmup_steps = math.ceil(warmup * total_steps - 1e-9)
    if schedule == "cosine":
        from transformers import get_cosine_schedule_with_warmup

        return get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    if schedule != "linear":
        raise ValueError(f"unknown learning-rate schedule {schedule!r} (expected one of {', '.join(SCHEDULES)})")

    def linear(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, linear)


def load_resume_state(path: Path) -> dict:
    """The optimiser / scheduler / RNG state of a training checkpoint, read with
    ``torch.load(weights_only=True)``: tensors, numbers, strings, lists, dicts and tuples only,
    which is all that AdamW's and LambdaLR's state dicts and the RNG states hold, so no
    allow-list beyond torch's own is needed; a file carrying anything else (a pickled
    callable, any class) is refused with one error naming it instead of running its code."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: refused to load the training state (it holds more than tensors and plain "
                         f"data, which weights_only=True does not run): {first}") from None


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, options: TrainOptions) -> None:
        self.o = options
        self.output = Path(options.output)
        self.checkpoints = self.output / "checkpoints"
        self.holdout: dict | None = None
        self.head_bias_shift: float | None = None

    # ----------------------------------------------------------------------- setup
    def _config(self):
        o = self.o
        base = load_config(o.encoder)
        device = o.device or base.device
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        method = o.method if o.method != "auto" else ("full" if base.backbone == "mlm" else "lora")
        # Full fine-tuning keeps fp32 master weights (bf16 autocast on CUDA); LoRA freezes the
        # base, which may then be bf16 on CUDA. CPU: fp32.
        dtype = o.dtype or ("bfloat16" if cuda and method == "lora" else "float32")
        config = base.replace(kq=o.kq, kp=o.kp, max_length_query=o.max_length_query,
                              max_length_passage=o.max_length_passage, device=device, dtype=dtype,
                              stop_token_truncation=False, denoising_steps=1, quantization="round")
        return base, config, method

    def _data(self) -> list[Example]:
        o = self.o
        cached = self.output / "train-data.jsonl"
        spec = Path(o.train)
        if o.resume and cached.is_file():
            examples = read_tevatron(cached)
            holdout_file = self.output / "holdout.json"
            if holdout_file.is_file():
                self.holdout = json.loads(holdout_file.read_text(encoding="utf-8"))
            return examples
        examples, kind = load_training_data(spec, o.split)
        if o.holdout:
            if kind != "beir":
                raise ValueError("--holdout needs a BEIR collection as --train (its corpus is searched)")
            rng = random.Random(o.seed)
            held = set(rng.sample(sorted(ex.qid for ex in examples), o.holdout))
            topics, qrels = beir_split(spec, o.split)
            self.holdout = {"queries": {q: topics[q] for q in sorted(held)}, "qrels": {q: qrels[q] for q in sorted(held)}}
            (self.output / "holdout.json").write_text(json.dumps(self.holdout, indent=1) + "\n", encoding="utf-8")
            examples = [ex for ex in examples if ex.qid not in held]
        if kind == "beir" and o.negatives > 0:
            print(f"mining BM25 hard negatives for {len(examples)} queries (top {o.mine_depth}, skip {o.mine_skip})", flush=True)
            examples = mine_bm25_negatives(examples, spec, self.output / "bm25", o.mine_depth, o.mine_skip,
                                           o.bm25_index, o.threads)
        write_tevatron(examples, cached)
        return examples

    def _model(self, config, method):
        o = self.o
        encoder = DiffRetrieverEncoder(config)
        module = encoder.backbone.model
        peft_model = None
        if method == "lora":
            peft_model = apply_lora(encoder.backbone, o.lora_r, o.lora_alpha, o.lora_dropout, o.lora_targets)
        elif method == "full":
            for p in module.parameters():
                p.requires_grad_(True)
            if o.freeze_embeddings:
                module.get_input_embeddings().weight.requires_grad_(False)
        else:
            raise ValueError(f"unknown fine-tuning method {method!r} (full, lora)")
        if o.gradient_checkpointing:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if peft_model is not None:
                module.enable_input_require_grads()
        objective = Objective(o.dense_weight, o.sparse_weight, o.tau_dense, o.tau_sparse,
                              config.sparse_topk if o.train_sparse_topk else None, o.dense_score)
        return ContrastiveModel(encoder, objective), peft_model

    # ------------------------------------------------------------------ checkpoints
    def _latest_checkpoint(self) -> Path | None:
        found = sorted(self.checkpoints.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
        found = [p for p in found if (p / "state.json").is_file()]
        return found[-1] if found else None

    def _save_state(self, model, optimizer, scheduler, step: int, micro: int, history: list) -> None:
        from safetensors.torch import save_file

        folder = self.checkpoints / f"step-{step}"
        tmp = self.checkpoints / f".step-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(trainable_state(model.module), str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "micro": micro, "history": history,
                                                    "head_bias_shift": self.head_bias_shift}) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        kept = sorted(self.checkpoints.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in kept[: max(0, len(kept) - self.o.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_state(self, folder: Path, model, optimizer, scheduler) -> tuple[int, int, list]:
        from safetensors.torch import load_file

        state = json.loads((folder / "state.json").read_text())
        self.head_bias_shift = state.get("head_bias_shift")
        if self.head_bias_shift is not None:  # frozen under LoRA, so not in the trainable state
            with torch.no_grad():
                model.module.get_output_embeddings().bias.add_(self.head_bias_shift)

        load_trainable_state(model.module, load_file(str(folder / "trainable.safetensors")))
        saved = load_resume_state(folder / "optimizer.pt")
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        if saved.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        return state["step"], state["micro"], state["history"]

    # ------------------------------------------------------------------------- run
    def run(self) -> dict:
        o = self.o
        started = time.time()
        self.output.mkdir(parents=True, exist_ok=True)
        if not o.resume and self._latest_checkpoint() is not None:
            raise ValueError(f"{self.output} holds a training state; pass --resume to continue it, or another --output")
        set_seed(o.seed)
        base, config, method = self._config()
        examples = self._data()
        sampler = BatchSampler(examples, o.batch_size, o.negatives, o.seed)
        per_epoch = len(sampler)
        total_micro = o.epochs * per_epoch
        total_steps = total_micro // o.accumulation
        if o.max_steps is not None:
            total_steps = min(total_steps, o.max_steps) if o.max_steps > 0 else total_steps
        if total_steps < 1:
            raise ValueError(f"no optimiser step: {per_epoch} micro-batches per epoch, accumulation {o.accumulation}")
        save_every = o.save_every or max(1, per_epoch // o.accumulation)

        set_seed(o.seed)
        model, peft_model = self._model(config, method)
        params = model.trainable_parameters()
        n_trainable = sum(p.numel() for p in params)
        n_total = sum(p.numel() for p in model.module.parameters())
        optimizer = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        scheduler = make_scheduler(optimizer, o.schedule, o.warmup, total_steps)
        step, micro, history = 0, 0, []
        latest = self._latest_checkpoint() if o.resume else None
        if o.head_bias_quantile is not None and latest is None:
            rng = random.Random(o.seed)
            sample = rng.sample(examples, min(len(examples), 64))
            self.head_bias_shift = model.calibrate_head_bias([ex.query for ex in sample],
                                                    [ex.positives[0].text for ex in sample], o.head_bias_quantile)
            print(f"LM head bias shifted by {self.head_bias_shift:+.3f} (content-logit quantile {o.head_bias_quantile} -> 0)",
                  flush=True)
        if latest is not None:
            step, micro, history = self._load_state(latest, model, optimizer, scheduler)
            print(f"resumed from {latest} (step {step}/{total_steps})", flush=True)
            log_file = self.output / "log.jsonl"
            if log_file.is_file():  # drop the steps logged after the checkpoint
                lines = [line for line in log_file.read_text(encoding="utf-8").splitlines()
                         if line.strip() and json.loads(line)["step"] <= step]
                log_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"{method} fine-tuning of {base.name} ({config.backbone}, {config.checkpoint}): {n_trainable:,} of "
              f"{n_total:,} parameters trained; {len(examples)} queries, {per_epoch} micro-batches of {o.batch_size} "
              f"queries x {1 + o.negatives} passages per epoch, {total_steps} steps", flush=True)

        log = open(self.output / "log.jsonl", "a", encoding="utf-8")
        model.train(o.dropout)
        bar = tqdm(total=total_steps, initial=step, desc="train", unit="step", disable=not o.progress, dynamic_ncols=True)
        train_seconds = sum(h.get("seconds", 0.0) for h in history[-1:])
        step_started = time.time()
        sums = {"loss": 0.0, "dense": 0.0, "sparse": 0.0}
        smooth = None
        eval_results = []
        epoch = micro // per_epoch
        while step < total_steps:
            offset = micro - epoch * per_epoch
            for index, batch in enumerate(sampler.epoch(epoch)):
                if index < offset:
                    continue
                out = model.loss(batch)
                (out.loss / o.accumulation).backward()
                micro += 1
                for key, value in (("loss", out.loss), ("dense", out.dense), ("sparse", out.sparse)):
                    sums[key] += float(value.detach()) / o.accumulation
                if micro % o.accumulation:
                    continue
                if o.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(params, o.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                now = time.time()
                train_seconds += now - step_started
                step_started = now
                smooth = sums["loss"] if smooth is None else 0.9 * smooth + 0.1 * sums["loss"]
                record = {"step": step, "epoch": epoch, **{k: round(v, 5) for k, v in sums.items()},
                          "lr": scheduler.get_last_lr()[0], "seconds": round(train_seconds, 1)}
                history.append(record)
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{smooth:.3f}", dense=f"{sums['dense']:.3f}", sparse=f"{sums['sparse']:.3f}")
                bar.update(1)
                sums = dict.fromkeys(sums, 0.0)
                if step % save_every == 0 or step == total_steps:
                    self._save_state(model, optimizer, scheduler, step, micro, history[-1:])
                    step_started = time.time()
                if step >= total_steps:
                    break
            else:
                if o.eval_every_epoch and self.holdout:
                    result = self.evaluate_holdout(model.encoder)
                    eval_results.append({"epoch": epoch, "step": step, **result})
                    print(f"epoch {epoch}: held-out " + _short(result), flush=True)
                    model.train(o.dropout)
                    step_started = time.time()
            epoch += 1
        bar.close()
        log.close()

        model.train(False)
        result = self.export(model, peft_model, base, config, method)
        report = {"options": asdict(o), "method": method, "base": {"name": base.name, "checkpoint": base.checkpoint},
                  "trainable_parameters": n_trainable, "parameters": n_total, "queries": len(examples),
                  "steps": step, "micro_batches": micro, "train_seconds": round(train_seconds, 1),
                  "wall_seconds": round(time.time() - started, 1), "final": history[-1] if history else None,
                  "head_bias_shift": self.head_bias_shift, "torch": torch.__version__, "device": str(model.backbone.device), "dtype": config.dtype, **result}
        if self.holdout:
            report["holdout_results"] = eval_results + [{"final": True, **self.evaluate_holdout(model.encoder)}]
            print("held-out " + _short(report["holdout_results"][-1]), flush=True)
        (self.output / "training.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"encoder written: --encoder {self.output / 'encoder.yaml'} (training {train_seconds:.0f} s, "
              f"wall {report['wall_seconds']:.0f} s)", flush=True)
        return report

    def export(self, model, peft_model, base, config, method) -> dict:
        o = self.o
        backbone = model.backbone
        release_dir = None
        if peft_model is not None:
            peft_model.save_pretrained(str(self.output / "adapter"))
            if config.backbone in ("dream", "llada"):  # also the official release layout (docs/method.md section 7b)
                release_dir = save_release(peft_model, model.encoder, Path(backbone.checkpoint_path),
                                           self.output / "release", temperature=o.tau_dense,
                                           sparse_weight=o.sparse_weight)
            merge_adapter(peft_model)
        model_dir = save_checkpoint(backbone, Path(backbone.checkpoint_path), self.output / "model", config.backbone)
        name = o.name or self.output.resolve().name
        comment = (f"Fine-tuned from {base.name} ({base.checkpoint}) by python -m pyserini_diffretriever.train\n"
                   f"on {o.train} (split {o.split}); see training.json beside this file.")
        runtime = config.replace(dtype=base.dtype, device=base.device)
        (self.output / "encoder.yaml").write_text(
            encoder_yaml(runtime, str(model_dir.resolve()), name, comment), encoding="utf-8")
        return {"model_dir": str(model_dir), "encoder_yaml": str(self.output / "encoder.yaml"),
                **({"release_dir": str(release_dir)} if release_dir else {})}

    def evaluate_holdout(self, encoder) -> dict:
        return evaluate_on_collection(encoder, self.o.train, self.holdout["queries"], self.holdout["qrels"],
                                      progress=self.o.progress)


def _short(result: dict) -> str:
    return ", ".join(f"{mode} nDCG@10 {metrics['ndcg_cut_10']:.4f}" for mode, metrics in result.items()
                     if isinstance(metrics, dict) and "ndcg_cut_10" in metrics)
